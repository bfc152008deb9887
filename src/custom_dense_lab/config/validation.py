"""The checks a composed config's types cannot express: ranges, rules between keys, Keras names.

`validate_values` needs no Keras; `validate_keras_names` imports it and checks each distinct name once.
"""

import contextlib
import functools
import importlib.util

from omegaconf import OmegaConf

from custom_dense_lab.errors import ConfigError

MAX_DEPTH = 512  # 1000 hidden layers reach Python's recursion limit when TensorFlow traces the step
MAX_UNITS = 2**14  # a 16384 x 16384 float32 kernel weighs 1 GiB, before its gradient and slots
MAX_SEED = 2**32 - 1
MAX_ROUNDS = 1000
# The submitit launchers' (local, SLURM) sizes, which SLURM would refuse only at submission.
_LAUNCHER_MINIMUMS = {"gpus_per_node": 0} | dict.fromkeys(
    ("timeout_min", "nodes", "tasks_per_node", "cpus_per_task", "mem_gb", "array_parallelism"), 1
)
_BACKEND_PACKAGES = {"tensorflow": ("tensorflow",), "jax": ("jax", "jaxlib"), "torch": ("torch",)}


def validate_config(cfg):
    validate_values(cfg)
    validate_keras_names(cfg)


def validate_values(cfg):
    """Raises `ConfigError` for the first key whose value cannot work, Keras names aside."""
    for key, low, high in (
        ("seed", 0, MAX_SEED),
        ("model.units", 1, MAX_UNITS),
        ("model.depth", 0, MAX_DEPTH),
        ("trainer.epochs", 1, None),
        ("trainer.batch_size", 1, None),
        ("calibration_batches", 1, None),
    ):
        _require_range(key, OmegaConf.select(cfg, key), low, high)
    trainer, timing, rate = cfg.trainer, cfg.pair_timing, cfg.optimizer.learning_rate
    int8 = (cfg.quantize and cfg.quantize.name, trainer.precision.name) == ("int8", "mixed_float16")
    accepted = "int4, float8, gptq, awq or null with trainer.precision=mixed_float16 (Keras quantizes int8 only under float32 or bfloat16 compute)"
    _require(not int8, "quantize", "int8", accepted)
    require_backend_installed(cfg.backend.value)
    jit, momentum = trainer.jit_compile, cfg.optimizer.get("momentum", 0.0)
    ok = str(jit).lower() in ("auto", "true", "false")
    _require(ok, "trainer.jit_compile", jit, "auto, true or false")
    _require(rate > 0, "optimizer.learning_rate", rate, "a number > 0")
    _require(0 <= momentum < 1, "optimizer.momentum", momentum, "a number in [0, 1)")
    name, accepted = cfg.mlflow.experiment_name, "a non-empty name of at most 500 characters"
    ok = 0 < len(name.strip()) <= 500  # MLflow's limit
    _require(ok, "mlflow.experiment_name", name, accepted)
    _validate_dataset(cfg.dataset)
    rounds, target, seconds = timing.rounds, timing.target, timing.seconds_per_sample
    accepted = f"0 (no paired timing) or an integer in [2, {MAX_ROUNDS}]"  # an interval needs 2
    _require(rounds == 0 or 2 <= rounds <= MAX_ROUNDS, "pair_timing.rounds", rounds, accepted)
    if rounds:
        _require_range("pair_timing.max_rounds", timing.max_rounds, rounds, MAX_ROUNDS)
    _require(0 < target < 1, "pair_timing.target", target, "a fraction > 0 and < 1")
    accepted = "a number of seconds > 0 and <= 60.0"
    _require(0 < seconds <= 60, "pair_timing.seconds_per_sample", seconds, accepted)
    _validate_launcher(cfg)


def _validate_launcher(cfg):
    """The sizes of the joblib, submitit and Ray launchers, which they check only once launched."""
    workers = OmegaConf.select(cfg, "hydra.launcher.n_jobs")
    accepted = "a number of worker processes: 1 or more, or -1 for one per core"
    _require(workers != 0, "hydra.launcher.n_jobs", workers, accepted)
    for name, low in _LAUNCHER_MINIMUMS.items():
        if (value := OmegaConf.select(cfg, f"hydra.launcher.{name}")) is not None:
            _require_range(f"hydra.launcher.{name}", value, low)
    remote = OmegaConf.select(cfg, "hydra.launcher.ray.remote") or {}
    for key, kind, low, accepted in (
        ("num_cpus", (int, float), 0, "a number of CPUs >= 0"),
        ("num_gpus", (int, float), 0, "a number of GPUs >= 0"),
        ("memory", int, 1, "null or a number of bytes > 0"),
        ("max_retries", int, -1, "an integer >= 0, or -1: no limit"),
    ):
        value = remote.get(key)
        number = isinstance(value, kind) and not isinstance(value, bool)
        ok = value is None or (number and value >= low)
        _require(ok, f"hydra.launcher.ray.remote.{key}", value, accepted)


def _validate_dataset(dataset):
    _require_fraction("dataset.val_fraction", dataset.val_fraction)
    if dataset.name != "synthetic":
        return
    _require_fraction("dataset.test_fraction", dataset.test_fraction)
    _require_range("dataset.n_features", dataset.n_features, 1)
    _require_range("dataset.n_classes", dataset.n_classes, 2, 2**dataset.n_features)
    _require_range("dataset.n_samples", dataset.n_samples, dataset.n_classes)
    n_test = round(dataset.n_samples * dataset.test_fraction)
    n_train = dataset.n_samples - n_test
    n_train -= max(1, round(n_train * dataset.val_fraction))
    accepted = "enough samples for a non-empty train, validation and test split"
    _require(n_test >= 1 and n_train >= 1, "dataset.n_samples", dataset.n_samples, accepted)


def require_backend_installed(backend):
    """Raises `ConfigError` when the packages of a Keras backend are not installed here."""
    missing = [p for p in _BACKEND_PACKAGES[backend] if importlib.util.find_spec(p) is None]
    extra = "tensorflow-cpu" if backend == "tensorflow" else backend
    accepted = f"a backend installed here (missing: {', '.join(missing)}; pip install 'custom-dense[lab,{extra}]')"
    _require(not missing, "backend", backend, accepted)


def _require_range(key, value, low, high=None):
    accepted = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
    _require(low <= value and (high is None or value <= high), key, value, accepted)


def _require_fraction(key, value):
    _require(0.0 < value < 1.0, key, value, "a fraction strictly between 0 and 1")


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
