"""The MLP that every job trains, built from CustomDense or stock Dense, and its FLOPs."""

import keras
from hydra.utils import UNSAFE_DISABLE_EXECUTION_CHECKS, get_class, instantiate

# Every config the lab instantiates is its user's own (the shipped files, a --config-dir, the
# command line), so any `_target_` may be built, as in Hydra 1.3: Hydra 1.4's whitelist of
# targets guards configs that come from elsewhere, and would refuse a user's own callback.
TRUSTED_TARGETS = UNSAFE_DISABLE_EXECUTION_CHECKS


def build_mlp(
    dense_class, input_shape, num_classes, units, depth, activation="relu", name="mlp", **settings
):
    """Flatten, `depth` hidden layers of `units`, and a float32 softmax output layer; `settings`
    (initializers, `use_bias`) go to every dense layer."""
    hidden = [
        dense_class(units, activation=activation, name=f"hidden_{i + 1}", **settings)
        for i in range(depth)
    ]
    output = dense_class(
        num_classes, activation="softmax", dtype="float32", name="output", **settings
    )
    inputs = keras.Input(tuple(input_shape), name="input_layer")
    return keras.Sequential(
        [inputs, keras.layers.Flatten(name="flatten"), *hidden, output], name=name
    )


def job_model(cfg, input_shape, num_classes):
    """The compiled model of a job config (composed, or as its job logged it in `config.yaml`)."""
    model = instantiate(
        cfg.model,
        dense_class=get_class(cfg.layer.dense_class),
        input_shape=input_shape,
        num_classes=num_classes,
        name=f"mlp_{cfg.layer.name}",
        _execution_whitelist_=TRUSTED_TARGETS,
    )
    jit_compile = str(cfg.trainer.get("jit_compile", "auto")).lower()
    model.compile(
        optimizer=instantiate(cfg.optimizer, _execution_whitelist_=TRUSTED_TARGETS),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
        jit_compile="auto" if jit_compile == "auto" else jit_compile == "true",
    )
    return model


def training_matmul_flops(model, batch_size):
    """The matmul FLOPs of a training step of the layers with a 2-D `kernel`: `2 * batch * n * m`
    forward, as many for the kernel's gradient and, but for the first layer, the input's."""
    kernels = [getattr(layer, "kernel", None) for layer in model.layers]
    shapes = [k.shape for k in kernels if k is not None and len(k.shape) == 2]
    return sum((2 if i == 0 else 3) * 2.0 * batch_size * n * m for i, (n, m) in enumerate(shapes))
