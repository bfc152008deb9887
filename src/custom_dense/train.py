"""`python -m custom_dense.train`: see `custom_dense.lab.cli.train`."""

from custom_dense.lab.cli.train import main

if __name__ == "__main__":
    main()
