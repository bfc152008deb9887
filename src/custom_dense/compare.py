"""`python -m custom_dense.compare`: see `custom_dense.lab.cli.compare`."""

from custom_dense.lab.cli.compare import main

if __name__ == "__main__":
    main()
