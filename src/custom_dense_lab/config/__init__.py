"""The typed Hydra config, and the one path that checks a command line against it."""

import importlib.resources
import pathlib

CONFIG_DIR = pathlib.Path(str(importlib.resources.files("custom_dense_lab") / "conf"))
