"""The typed Hydra config, and the one path that checks a command line against it."""

import importlib.resources
import pathlib

# The lab's Hydra config tree, shipped inside the package (built from the project's conf/).
CONFIG_DIR = pathlib.Path(str(importlib.resources.files("custom_dense_lab") / "conf"))
