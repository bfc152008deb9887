"""Swap every Dense of a Keras model for CustomDense, or back, keeping its weights."""

import keras

from custom_dense.layer import CustomDense

_TARGETS = {"custom": (keras.layers.Dense, CustomDense), "stock": (CustomDense, keras.layers.Dense)}


def convert(model, to="custom"):
    """Returns a copy of `model` with its dense layers swapped for the other implementation.

    With `to="custom"` every `keras.layers.Dense` becomes a `CustomDense`; with
    `to="stock"` every `CustomDense` becomes a `keras.layers.Dense`. Layers keep
    their configs (names included) and weights, so the copy predicts exactly what
    the original does. Nested models are converted too; subclasses of either
    layer are copied unchanged, since their behaviour may differ. Like
    `keras.models.clone_model`, the copy is not compiled.

    Args:
        model: A Sequential or functional `keras.Model`.
        to: `"custom"` or `"stock"`, the implementation to convert to.

    Returns:
        A new `keras.Model` of the same structure and weights.
    """
    if to not in _TARGETS:
        raise ValueError(
            f"Received an invalid value for `to`: {to!r}; expected 'custom' or 'stock'."
        )
    source, target = _TARGETS[to]

    def clone_layer(layer):
        layer_class = target if type(layer) is source else type(layer)
        return layer_class.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone_layer, recursive=True)
    _copy_weights(model, copy)
    _mark_calibrated(copy)
    return copy


def _copy_weights(source, target):
    """Assigns each variable of `target` the value of the `source` variable of the same path.

    By path, not by position: a layer quantized after it was built holds its
    variables in another order than the same layer built quantized.
    """
    values = {variable.path: variable for variable in source.weights}
    if len(values) != len(source.weights) or {v.path for v in target.weights} != set(values):
        target.set_weights(source.get_weights())
        return
    for variable in target.weights:
        # A copy: on JAX, an array two models shared would be freed by either's training.
        variable.assign(keras.ops.convert_to_numpy(values[variable.path]))


def _mark_calibrated(model):
    """Marks GPTQ and AWQ layers calibrated, as loading a saved model does.

    Built from its config, such a layer has no float kernel and awaits
    calibration; the values copied into it are the calibrated ones.
    """
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            _mark_calibrated(layer)
        elif layer.quantization_mode in ("gptq", "awq"):
            setattr(layer, f"is_{layer.quantization_mode}_calibrated", True)
