"""GPTQ and AWQ over a model's dense layers, calibrated on batches of its own inputs."""

import keras

from custom_dense.layer import CustomDense
from custom_dense.layer_awq import LayerAWQ
from custom_dense.layer_gptq import LayerGPTQ


def quantize_model(model, config, calibration_data):
    """Quantizes every `CustomDense` and `Dense` of `model` with GPTQ or AWQ, calibrated.

    `keras.Model.quantize("gptq")` reaches only `Dense` and `EinsumDense` layers
    of transformer blocks, fed token ids. This does the same for a Sequential or
    functional model of any inputs, one layer at a time in the model's order:
    `layer.quantize(mode, config=config)`, then Keras's GPTQ or AWQ algorithm on
    the inputs the layer receives from `calibration_data`, the layers before it
    already quantized. Custom and stock models get the same variables.

    Args:
        model: A built Sequential or functional `keras.Model` whose dense
            layers are its own top-level layers.
        config: A `keras.quantizers.GPTQConfig` or `AWQConfig`. Its `dataset`,
            `tokenizer`, `num_samples` and `sequence_length` are not used:
            every batch of `calibration_data` is.
        calibration_data: An iterable of input batches, or of `(x, y)` or
            `(x, y, sample_weight)` tuples, such as a `tf.data.Dataset`.
    """
    mode = config.mode
    if mode not in _ALGORITHMS:
        raise ValueError(
            f"Received an invalid `config` of mode {mode!r}; expected a "
            "`keras.quantizers.GPTQConfig` or `AWQConfig`."
        )
    batches = [keras.utils.unpack_x_y_sample_weight(batch)[0] for batch in calibration_data]
    if not batches:
        raise ValueError("`calibration_data` holds no batch; calibration needs at least one.")
    model_inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    for layer in model.layers:
        if type(layer) not in (CustomDense, keras.layers.Dense):
            continue
        layer.quantize(mode, config=config)
        calibration = _ALGORITHMS[mode](layer, config)
        layer_inputs = keras.Model(model_inputs, layer.input)
        for batch in batches:
            calibration.record(layer_inputs(batch, training=False))
        calibration.quantize_layer()
        calibration.free()
    # As `keras.Model.quantize`: the compiled functions ran the float layers.
    model.train_function = model.test_function = model.predict_function = None


_ALGORITHMS = {"gptq": LayerGPTQ, "awq": LayerAWQ}
