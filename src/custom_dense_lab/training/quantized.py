"""Post-training quantization of a job's trained model: a quantized copy, evaluated and sized."""

import keras
import numpy as np

from custom_dense import convert, quantize_model

# GPTQ and AWQ at int4's bits and groups (4 bits, groups of 128 inputs), for a fair comparison.
CALIBRATED = {
    "gptq": lambda: keras.quantizers.GPTQConfig(None, None, weight_bits=4, group_size=128),
    "awq": lambda: keras.quantizers.AWQConfig(None, None, group_size=128),
}


def quantized_copy(model, mode, calibration, batch_size):
    """A compiled copy of `model` quantized to `mode`; GPTQ and AWQ calibrate on `calibration`,
    numpy inputs, in batches of `batch_size`."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    if mode in CALIBRATED:
        batches = np.array_split(calibration, range(batch_size, len(calibration), batch_size))
        quantize_model(copy, CALIBRATED[mode](), batches)
    else:
        copy.quantize(mode)
    copy.compile(loss=model.loss, metrics=["accuracy"])
    return copy


def loadable(model, mode):
    """The model to log: Keras 3.15's Dense saves GPTQ and AWQ layers without their zero points,
    CustomDense whole, so a stock model is logged converted (the same variables, bit for bit)."""
    return convert(model, to="custom") if mode in CALIBRATED else model


def size_bytes(model):
    return int(sum(keras.ops.convert_to_numpy(v).nbytes for v in model.weights))


def measure(quantized, test_data, timings):
    """The quantized model's test figures, inference `timings` and size, as `quantized_*` metrics."""
    test = quantized.evaluate(test_data, return_dict=True, verbose=0)
    figures = {"test_loss": test["loss"], "test_accuracy": test["accuracy"], **timings}
    figures["model_size_bytes"] = size_bytes(quantized)
    return {f"quantized_{k}": float(v) for k, v in figures.items() if np.isfinite(v)}
