"""The typed Hydra config, and the one path that checks a command line against it."""

import pathlib

# The project's Hydra config tree, `conf/` at the top of the checkout.
CONFIG_DIR = pathlib.Path(__file__).resolve().parents[4] / "conf"
