"""`LayerGPTQ`: Keras's GPTQ algorithm for one layer of Dense's protocol, of any class."""

from keras import ops
from keras.src.quantizers.gptq import GPTQ
from keras.src.quantizers.quantizers import GPTQQuantizer


class LayerGPTQ(GPTQ):
    """Keras's GPTQ for one layer with Dense's kernel and GPTQ variables.

    Keras's `GPTQ` accepts `Dense` and `EinsumDense` by type; this sets up the
    state it gives a `Dense` and leaves the algorithm to it: `record` each
    batch of the layer's inputs, then `quantize_layer`.
    """

    def __init__(self, layer, config):
        self.original_layer = self.layer = layer
        self.num_samples = 0
        self.config = config
        self.quantizer = GPTQQuantizer(config, compute_dtype=layer.variable_dtype)
        self.kernel_shape = layer.kernel.shape
        self.rows, self.columns = self.kernel_shape
        self.hessian = ops.zeros((self.rows, self.rows), dtype="float32")

    record = GPTQ.update_hessian_with_batch
    quantize_layer = GPTQ.quantize_and_correct_layer
