"""The checks of a composed config beyond its types: each field's `accepts` test, rules between
keys, the launchers' sizes, and the Keras names (these import Keras; each distinct name once)."""

import contextlib
import dataclasses
import functools
import importlib.util

from omegaconf import DictConfig, OmegaConf

from custom_dense_lab.config.schema import MAX_ROUNDS, integer
from custom_dense_lab.errors import ConfigError

_BACKEND_PACKAGES = {"tensorflow": ("tensorflow",), "jax": ("jax", "jaxlib"), "torch": ("torch",)}
_INT8 = "int4, float8, gptq, awq or null with trainer.precision=mixed_float16 (Keras quantizes int8 only under float32 or bfloat16 compute)"


def _at_least(low, words=None, kinds=int):
    number = lambda v: isinstance(v, kinds) and not isinstance(v, bool)  # noqa: E731
    return words or f"an integer >= {low}", lambda value: number(value) and value >= low


# The launchers' sizes, which they check only once launched (SLURM: at submission).
_LAUNCHER = {
    **{
        f"hydra.launcher.{key}": _at_least(1)
        for key in ("timeout_min", "nodes", "tasks_per_node", "cpus_per_task", "mem_gb")
    },
    "hydra.launcher.array_parallelism": _at_least(1),
    "hydra.launcher.gpus_per_node": _at_least(0),
    "hydra.launcher.n_jobs": (
        "a number of worker processes: 1 or more, or -1 for one per core",
        lambda workers: workers != 0,
    ),
    "hydra.launcher.ray.remote.num_cpus": _at_least(0, "a number of CPUs >= 0", (int, float)),
    "hydra.launcher.ray.remote.num_gpus": _at_least(0, "a number of GPUs >= 0", (int, float)),
    "hydra.launcher.ray.remote.memory": _at_least(1, "null or a number of bytes > 0"),
    "hydra.launcher.ray.remote.max_retries": _at_least(-1, "an integer >= 0, or -1: no limit"),
}


def validate_values(cfg):
    """Raises `ConfigError` for the first key whose value cannot work, Keras names aside."""
    _check_fields(cfg, "")
    for key, (words, test) in _LAUNCHER.items():
        if (value := OmegaConf.select(cfg, key)) is not None:
            _require(test(value), key, value, words)
    timing, data = cfg.pair_timing, cfg.dataset
    int8 = (cfg.quantize and cfg.quantize.name, cfg.trainer.precision.name) == (
        "int8",
        "mixed_float16",
    )
    _require(not int8, "quantize", "int8", _INT8)
    require_backend_installed(cfg.backend.value)
    if timing.rounds:
        _require_range("pair_timing.max_rounds", timing.max_rounds, timing.rounds, MAX_ROUNDS)
    if data.name == "synthetic":
        _require_range("dataset.n_classes", data.n_classes, 2, 2**data.n_features)
        _require_range("dataset.n_samples", data.n_samples, data.n_classes)
        n_test = round(data.n_samples * data.test_fraction)
        n_train = data.n_samples - n_test
        n_train -= max(1, round(n_train * data.val_fraction))
        accepted = "enough samples for a non-empty train, validation and test split"
        _require(n_test >= 1 and n_train >= 1, "dataset.n_samples", data.n_samples, accepted)


def _check_fields(node, path):
    """Each field's `accepts` test, in the schema's order."""
    for spec in dataclasses.fields(OmegaConf.get_type(node)):
        key, value = f"{path}{spec.name}", node[spec.name]
        if "accepts" in spec.metadata:
            words, test = spec.metadata["accepts"]
            _require(test(value), key, value, words)
        if isinstance(value, DictConfig):
            _check_fields(value, f"{key}.")


def require_backend_installed(backend):
    """Raises `ConfigError` when the packages of a Keras backend are not installed here."""
    missing = [p for p in _BACKEND_PACKAGES[backend] if importlib.util.find_spec(p) is None]
    extra = "tensorflow-cpu" if backend == "tensorflow" else backend
    accepted = f"a backend installed here (missing: {', '.join(missing)}; pip install 'custom-dense[lab,{extra}]')"
    _require(not missing, "backend", backend, accepted)


def _require_range(key, value, low, high=None):
    words, test = integer(low, high).metadata["accepts"]
    _require(test(value), key, value, words)


def _require(ok, key, value, accepted):
    if not ok:
        raise ConfigError(key, value, accepted)


def validate_keras_names(cfg):
    """Raises `ConfigError` for an activation or initializer Keras does not have (imports Keras)."""
    _require_keras_name("model.activation", cfg.model.activation, None)
    _require_keras_name("model.kernel_initializer", cfg.model.kernel_initializer, (4, 4))
    _require_keras_name("model.bias_initializer", cfg.model.bias_initializer, (4,))


@functools.cache
def _require_keras_name(key, name, shape):
    """A Keras activation (`shape` None), or an initializer that can fill a weight of `shape`."""
    import keras

    found = None
    with contextlib.suppress(ValueError, TypeError):
        found = (keras.initializers if shape else keras.activations).get(name)
    if shape is None:
        ok = callable(found) and found.__module__.split(".")[:2] == ["keras", "src"]
        accepted = "the name of a Keras activation, e.g. relu, tanh, gelu, sigmoid, linear"
        return _require(ok, key, name, accepted)
    accepted = "the name of a Keras initializer, e.g. glorot_uniform, he_normal, orthogonal, zeros"
    _require(isinstance(found, keras.initializers.Initializer), key, name, accepted)
    try:
        found(shape)
    except (ValueError, TypeError) as error:
        reason = str(error).splitlines()[0]
        accepted = f"an initializer that can fill a {len(shape)}-D weight ({reason})"
        raise ConfigError(key, name, accepted) from None
