"""The checks of a composed config beyond its types: its keys, each field's `accepts` test, rules
between keys, the launchers' sizes, and the Keras names (these import Keras; each name once)."""

import contextlib
import dataclasses
import functools
import importlib.util

from omegaconf import DictConfig, OmegaConf

from custom_dense_lab.config.schema import MAX_ROUNDS, integer
from custom_dense_lab.errors import ConfigError

_BACKEND_PACKAGES = {"tensorflow": ("tensorflow",), "jax": ("jax", "jaxlib"), "torch": ("torch",)}
_INT8 = "int4, float8, gptq, awq or null with trainer.precision=mixed_float16 (Keras quantizes int8 only under float32 or bfloat16 compute)"
REQUIRED = "a value: every key of the config is required (an optional group may go)"


def _at_least(low, words=None, kinds=int):
    number = lambda v: isinstance(v, kinds) and not isinstance(v, bool)  # noqa: E731
    return words or f"an integer >= {low}", lambda value: number(value) and value >= low


# The launchers' sizes, which they check only once launched (SLURM: at submission).
_SIZES = ("timeout_min", "nodes", "tasks_per_node", "cpus_per_task", "mem_gb", "array_parallelism")
_LAUNCHER = {
    **{f"hydra.launcher.{key}": _at_least(1) for key in _SIZES},
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


def validate_values(cfg, given=None):
    """Raises `ConfigError` for the first key that cannot work, Keras names aside; the error of a
    key the schema lacks says its value as `given` (the command line's text of each key)."""
    _check_node(cfg, "", given or {})
    for key, (words, test) in _LAUNCHER.items():
        if (value := OmegaConf.select(cfg, key)) is not None:
            _require(test(value), key, value, words)
    timing, data = cfg.pair_timing, cfg.dataset
    quantize, precision = cfg.quantize and cfg.quantize.name, cfg.trainer.precision.name
    _require((quantize, precision) != ("int8", "mixed_float16"), "quantize", "int8", _INT8)
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


def _check_node(node, path, given):
    """Refuses a key the schema does not declare (`+key`, `++key`) or one it requires (`~key`),
    and a value its field's `accepts` test refuses, in the schema's order."""
    kind = OmegaConf.get_type(node)
    fields = {f.name: f for f in dataclasses.fields(kind)} if dataclasses.is_dataclass(kind) else {}
    children = dict(node.items_ex(resolve=False))
    for key in [*children, *(name for name in fields if name not in children)]:
        if (full_key := f"{path}{key}") == "hydra":
            continue
        if fields and key not in fields:
            raise ConfigError(full_key, given.get(full_key), known_keys(node, full_key))
        if key not in children or OmegaConf.is_missing(node, key):
            raise ConfigError(full_key, given.get(full_key), REQUIRED)
        if words_and_test := fields and fields[key].metadata.get("accepts"):
            _require(words_and_test[1](node[key]), full_key, node[key], words_and_test[0])
        if isinstance(children[key], DictConfig):
            _check_node(children[key], f"{full_key}.", given)


def known_keys(node, key):
    """What a key under `node` may be, said for one that is not there."""
    kind = OmegaConf.get_type(node) if isinstance(node, DictConfig) else None
    names = [f.name for f in dataclasses.fields(kind)] if dataclasses.is_dataclass(kind) else node
    names = sorted(n for n in map(str, names or ()) if n[0] != "_")
    where = f"`{key.rpartition('.')[0]}` has" if "." in key else "its top-level keys are"
    return f"a key of the config; {where} {', '.join(names)}"


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
