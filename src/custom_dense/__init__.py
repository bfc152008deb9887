"""custom-dense: a from-scratch Keras 3 Dense layer, proven equal to `keras.layers.Dense`.

`CustomDense` is the layer and `convert` swaps every Dense of a model for it
(or back), weights kept; `quantize_model` quantizes a model's dense layers with
GPTQ or AWQ, calibrated on batches of its inputs. Both need Keras alone, on any backend. Importing the
package registers `CustomDense` for Keras serialization, as every Keras add-on
does, so a `.keras` file that holds it loads with no `custom_objects`.
"""

from custom_dense.calibration import quantize_model
from custom_dense.conversion import convert
from custom_dense.layer import CustomDense

__all__ = ["CustomDense", "convert", "quantize_model"]
__version__ = "0.2.0"
