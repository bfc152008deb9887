"""`python -m custom_dense.studies`: see `custom_dense.lab.cli.studies`."""

from custom_dense.lab.cli.studies import main

if __name__ == "__main__":
    main()
