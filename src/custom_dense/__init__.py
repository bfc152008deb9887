"""custom-dense: a from-scratch Keras 3 Dense layer, proven equal to `keras.layers.Dense`.

Importing the package registers `CustomDense` for Keras serialization and the
`sklearn_digits` dataset builder with TFDS.
"""

from custom_dense.quiet import quiet_start, started_as_entry_point

if started_as_entry_point():
    quiet_start()

from custom_dense import data
from custom_dense.convert import convert
from custom_dense.layer import CustomDense

__all__ = ["CustomDense", "convert", "data"]
__version__ = "0.1.0"
