"""A job's model: the MLP, its device, its FLOPs, the shared compiled model, quantization."""

import contextlib
import functools
import json
import platform
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import keras
import tensorflow as tf
from hydra.utils import UNSAFE_DISABLE_EXECUTION_CHECKS, get_class, instantiate
from omegaconf import OmegaConf

from custom_dense_lab.errors import ConfigError

# Every config the lab instantiates is its user's own (docs/install.md): any `_target_` is built.
TRUSTED_TARGETS = UNSAFE_DISABLE_EXECUTION_CHECKS


def resolve_device(requested):
    """`kind`, `spec` ("cpu", not "cpu:0": PyTorch would copy there) and `name` of a device."""
    backend = keras.config.backend()
    if backend == "tensorflow":
        details = tf.config.experimental.get_device_details
        gpus = [details(g)["device_name"] for g in tf.config.list_physical_devices("GPU")]
    elif backend == "jax":  # Keras has imported its backend's package
        gpus = [d.device_kind for d in sys.modules["jax"].devices() if d.platform == "gpu"]
    else:
        cuda = sys.modules["torch"].cuda
        gpus = [cuda.get_device_name(i) for i in range(cuda.device_count())]
    if requested == "gpu" and not gpus:
        seen = f"a device Keras's {backend} backend can see: cpu or auto (no GPU is visible here)"
        raise ConfigError("device", "gpu", seen)
    if requested != "cpu" and gpus:
        return SimpleNamespace(kind="gpu", spec="gpu:0", name=gpus[0])
    name = platform.machine()
    with contextlib.suppress(OSError, TypeError):  # no /proc/cpuinfo, or no model name in it
        name = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)[1]
    return SimpleNamespace(kind="cpu", spec="cpu", name=name.strip())


def build_mlp(
    dense_class, input_shape, num_classes, units, depth, activation="relu", name="mlp", **settings
):
    """Flatten, `depth` hidden layers and a float32 softmax output, all with `settings`."""
    dense = functools.partial(dense_class, **settings)
    inputs = keras.Input(tuple(input_shape), name="input_layer")
    layers = [inputs, keras.layers.Flatten(name="flatten")]
    layers += [dense(units, activation=activation, name=f"hidden_{i + 1}") for i in range(depth)]
    output = dense(num_classes, activation="softmax", dtype="float32", name="output")
    return keras.Sequential([*layers, output], name=name)


def job_model(cfg, input_shape, num_classes):
    """The compiled model of a job config (composed, or as its job logged it in `config.yaml`)."""
    kwargs = dict(input_shape=input_shape, num_classes=num_classes, name=f"mlp_{cfg.layer.name}")
    dense = get_class(cfg.layer.dense_class)
    model = instantiate(
        cfg.model, dense_class=dense, _execution_whitelist_=TRUSTED_TARGETS, **kwargs
    )
    optimizer = instantiate(cfg.optimizer, _execution_whitelist_=TRUSTED_TARGETS)
    jit_compile = {"auto": "auto", "true": True}.get(str(cfg.trainer.jit_compile).lower(), False)
    loss = keras.losses.SparseCategoricalCrossentropy()
    model.compile(optimizer, loss, metrics=["accuracy"], jit_compile=jit_compile)
    return model


def training_matmul_flops(model, batch_size):
    """Forward, kernel-gradient and (but the first layer's) input-gradient matmul FLOPs."""
    kernels = [getattr(layer, "kernel", None) for layer in model.layers]
    shapes = [k.shape for k in kernels if k is not None and len(k.shape) == 2]
    return sum((2 if i == 0 else 3) * 2.0 * batch_size * n * m for i, (n, m) in enumerate(shapes))


def graph_key(cfg, data_spec):
    """What decides a job's compiled graph: all but its seed and initial values."""
    model = {k: v for k, v in cfg.model.items() if not k.endswith("_initializer")}
    parts = [OmegaConf.to_container(cfg[k]) for k in ("layer", "optimizer", "device")]
    t = cfg.trainer
    settings = (t.batch_size, str(t.precision), t.deterministic, str(t.jit_compile).lower())
    return json.dumps([model, *parts, settings, repr(data_spec)], default=str)


def compiled_model_for(model, key, batch, reuse):
    """The compiled model of `key` in `reuse`, holding `model`'s state (docs/architecture.md)."""
    model.optimizer.build(model.trainable_variables)
    compiled = reuse.get("compiled models", key, lambda: model)
    if compiled is not model:
        copy_state(model, compiled)
        return compiled
    outputs = model(batch[0], training=False)
    model.compute_loss(batch[0], batch[1], outputs)
    model.compute_metrics(batch[0], batch[1], outputs, sample_weight=None)
    model.reset_metrics()
    return model


def copy_state(source, target):
    """Copies, since a JAX variable assigned another's value shares the buffer `fit` donates."""
    states = ([*m.variables, *m.optimizer.variables] for m in (target, source))
    for to, value in zip(*states, strict=True):
        to.assign(keras.ops.copy(value))


def size_bytes(model):
    return int(sum(keras.ops.convert_to_numpy(v).nbytes for v in model.weights))
