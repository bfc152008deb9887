"""custom-dense: a from-scratch Keras 3 Dense layer, proven equal to `keras.layers.Dense`.

`CustomDense` is the layer and `convert` swaps every Dense of a model for it
(or back), weights kept. Both need Keras alone, on any backend. Importing the
package registers `CustomDense` for Keras serialization, as every Keras add-on
does, so a `.keras` file that holds it loads with no `custom_objects`.
"""

from custom_dense.conversion import convert
from custom_dense.layer import CustomDense

__all__ = ["CustomDense", "convert"]
__version__ = "0.2.0"
