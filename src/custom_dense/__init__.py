"""custom-dense: a from-scratch Keras 3 Dense layer, proven equal to `keras.layers.Dense`."""

from custom_dense.convert import convert
from custom_dense.layer import CustomDense

__all__ = ["CustomDense", "convert"]
__version__ = "0.1.0"
