"""The MLP that every job trains, built from CustomDense or stock Dense."""

import keras
from hydra.utils import get_class, instantiate


def build_mlp(
    dense_class,
    input_shape,
    num_classes,
    units,
    depth,
    activation="relu",
    kernel_initializer="glorot_uniform",
    bias_initializer="zeros",
    use_bias=True,
    name="mlp",
):
    """Builds Flatten, `depth` hidden layers of `units`, and a softmax output layer.

    Custom and stock models of one config differ only in the dense class: same
    layer names, same initializers drawn in the same order, so after the same
    `keras.utils.set_random_seed` they hold the same initial weights. Every
    layer is named, so names do not depend on the models built before. The
    output layer computes in float32 under mixed precision, as Keras advises.
    The job builds it with `hydra.utils.instantiate(cfg.model, ...)`.

    Args:
        dense_class: `custom_dense.CustomDense` or `keras.layers.Dense`.
        input_shape: Shape of one example.
        num_classes: Units of the output layer.
        units: Width of each hidden layer.
        depth: Number of hidden layers.
        activation: Activation of the hidden layers.
        kernel_initializer: Initializer of every kernel.
        bias_initializer: Initializer of every bias.
        use_bias: Whether the dense layers have a bias.
        name: The model's name.

    Returns:
        A `keras.Sequential`, built on `input_shape`.
    """
    common = {
        "kernel_initializer": kernel_initializer,
        "bias_initializer": bias_initializer,
        "use_bias": use_bias,
    }
    hidden = [
        dense_class(units, activation=activation, name=f"hidden_{i + 1}", **common)
        for i in range(depth)
    ]
    output = dense_class(
        num_classes, activation="softmax", dtype="float32", name="output", **common
    )
    inputs = keras.Input(tuple(input_shape), name="input_layer")
    return keras.Sequential(
        [inputs, keras.layers.Flatten(name="flatten"), *hidden, output], name=name
    )


def job_model(cfg, input_shape, num_classes):
    """The compiled model a job of `cfg` trains, with the weights of the current random seed.

    Args:
        cfg: A job config (composed, or as the job logged it in `config.yaml`).
        input_shape: Shape of one example of the job's dataset.
        num_classes: Classes of the job's dataset.

    Returns:
        The model built from `cfg.model` with the dense class of `cfg.layer`,
        compiled with `cfg.optimizer`, the sparse cross-entropy loss, accuracy
        and `cfg.trainer.jit_compile` (`model.jit_compile` says what Keras
        made of `auto` on this backend and device).
    """
    model = instantiate(
        cfg.model,
        dense_class=get_class(cfg.layer.dense_class),
        input_shape=input_shape,
        num_classes=num_classes,
        name=f"mlp_{cfg.layer.name}",
    )
    model.compile(
        optimizer=instantiate(cfg.optimizer),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
        jit_compile=jit_compile_argument(cfg.trainer.get("jit_compile", "auto")),
    )
    return model


def jit_compile_argument(setting):
    """Keras's `jit_compile` for a `trainer.jit_compile` setting: `"auto"`, `True` or `False`."""
    setting = str(setting).lower()
    return "auto" if setting == "auto" else setting == "true"
