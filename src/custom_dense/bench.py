"""`python -m custom_dense.bench`: see `custom_dense.lab.cli.bench`."""

from custom_dense.lab.cli.bench import main

if __name__ == "__main__":
    main()
