"""The typed Hydra config, and the one path that checks a command line against it."""

import pathlib

CONFIG_DIR = pathlib.Path(__file__).parents[1] / "conf"
