"""The MLP that every job trains, built from CustomDense or stock Dense."""

import keras

from custom_dense.layer import CustomDense

LAYER_CLASSES = {"custom": CustomDense, "stock": keras.layers.Dense}


def build_mlp(layer, input_shape, num_classes, model_cfg):
    """Builds Flatten, `depth` hidden layers of `units`, and a softmax output layer.

    Custom and stock models of one config differ only in the dense class: same
    layer names, same initializers drawn in the same order, so after the same
    `keras.utils.set_random_seed` they hold the same initial weights. The
    output layer computes in float32 under mixed precision, as Keras advises.

    Args:
        layer: `"custom"` or `"stock"`.
        input_shape: Shape of one example.
        num_classes: Units of the output layer.
        model_cfg: The `model` config (`units`, `depth`, `activation`,
            `kernel_initializer`, `bias_initializer`, `use_bias`).

    Returns:
        A `keras.Sequential`, built on `input_shape`.
    """
    dense = LAYER_CLASSES[layer]
    common = {
        "kernel_initializer": model_cfg.kernel_initializer,
        "bias_initializer": model_cfg.bias_initializer,
        "use_bias": model_cfg.use_bias,
    }
    hidden = [
        dense(model_cfg.units, activation=model_cfg.activation, name=f"hidden_{i + 1}", **common)
        for i in range(model_cfg.depth)
    ]
    output = dense(num_classes, activation="softmax", dtype="float32", name="output", **common)
    return keras.Sequential(
        [keras.Input(tuple(input_shape)), keras.layers.Flatten(), *hidden, output],
        name=f"mlp_{layer}",
    )


def build_optimizer(optimizer_cfg):
    """Returns the Keras optimizer an `optimizer` config describes."""
    if optimizer_cfg.name == "sgd":
        return keras.optimizers.SGD(
            learning_rate=optimizer_cfg.learning_rate, momentum=optimizer_cfg.momentum
        )
    return keras.optimizers.Adam(learning_rate=optimizer_cfg.learning_rate)
