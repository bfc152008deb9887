"""`LayerAWQ`: Keras's AWQ algorithm for one layer of Dense's protocol, of any class."""

from keras import ops
from keras.src.quantizers.awq import AWQ


class LayerAWQ(AWQ):
    """Keras's AWQ for one layer with Dense's kernel and AWQ variables.

    Keras's `AWQ` accepts `Dense` and `EinsumDense` by type; this sets up the
    state it gives a `Dense` and leaves the algorithm to it: `record` each
    batch of the layer's inputs, then `quantize_layer`.
    """

    def __init__(self, layer, config):
        self.original_layer = self.layer = layer
        self.config = config
        self.num_samples = 0
        self.kernel_shape = layer.kernel.shape
        self.rows, self.columns = self.kernel_shape
        self.activation_magnitudes = ops.zeros((self.rows,), dtype="float32")

    record = AWQ.update_activation_magnitudes
