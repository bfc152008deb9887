"""custom-dense: a from-scratch Keras 3 Dense layer, proven equal to `keras.layers.Dense`.

Importing the package registers `CustomDense` for Keras serialization and, where
tensorflow-datasets is installed, the `sklearn_digits` dataset builder with TFDS.
The layer itself needs only Keras, on any backend.
"""

import importlib.util

from custom_dense.quiet import quiet_start, wants_quiet_start

if wants_quiet_start():
    quiet_start()

from custom_dense.convert import convert
from custom_dense.layer import CustomDense

if importlib.util.find_spec("tensorflow_datasets") is not None:
    from custom_dense import data  # noqa: F401

__all__ = ["CustomDense", "convert"]
__version__ = "0.1.0"
