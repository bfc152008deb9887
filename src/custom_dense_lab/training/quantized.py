"""Post-training quantization of a job's trained model: a quantized copy, evaluated and sized."""

import keras
import numpy as np


def quantized_copy(model, mode):
    """A copy of the trained `model` quantized with `Model.quantize(mode)`, compiled for evaluation."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    copy.quantize(mode)
    copy.compile(loss=model.loss, metrics=["accuracy"])
    return copy


def size_bytes(model):
    """The bytes of every variable of `model`: what its weights take in memory and on disk."""
    return int(sum(keras.ops.convert_to_numpy(variable).nbytes for variable in model.weights))


def measure(quantized, test_data, timings):
    """The quantized model's test figures, inference `timings` and size, as `quantized_*` metrics."""
    test = quantized.evaluate(test_data, return_dict=True, verbose=0)
    figures = {
        "test_loss": float(test["loss"]),
        "test_accuracy": float(test["accuracy"]),
        **timings,
        "model_size_bytes": float(size_bytes(quantized)),
    }
    return {f"quantized_{name}": value for name, value in figures.items() if np.isfinite(value)}
