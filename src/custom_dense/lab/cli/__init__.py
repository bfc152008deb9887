"""The command-line programs: `python -m custom_dense.train`, `.compare`, `.bench`, `.studies`."""
