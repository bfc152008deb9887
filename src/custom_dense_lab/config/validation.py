"""The checks a composed config's types cannot express: ranges, rules between keys, Keras names.

`validate_values` needs no Keras, so a refused command line answers before
TensorFlow loads; `validate_keras_names` imports Keras and checks each
distinct name once per process.
"""

import functools
import importlib.util

from omegaconf import OmegaConf

from custom_dense_lab.errors import ConfigError

# 1000 hidden layers reach Python's recursion limit when TensorFlow traces the step.
MAX_DEPTH = 512
# A 16384 x 16384 float32 kernel weighs 1 GiB, before its gradient and optimizer slots.
MAX_UNITS = 2**14
MAX_SEED = 2**32 - 1
MAX_EXPERIMENT_NAME = 500  # MLflow's limit
MAX_PAIR_TIMING_ROUNDS = 1000
MAX_SECONDS_PER_SAMPLE = 60.0
_INTEGER_RANGES = (
    ("seed", 0, MAX_SEED),
    ("model.units", 1, MAX_UNITS),
    ("model.depth", 0, MAX_DEPTH),
    ("trainer.epochs", 1, None),
    ("trainer.batch_size", 1, None),
    ("calibration_batches", 1, None),
)
# The submitit launchers' (local, SLURM) sizes, which SLURM would refuse only at submission.
_LAUNCHER_MINIMUMS = {
    "timeout_min": 1,
    "nodes": 1,
    "tasks_per_node": 1,
    "cpus_per_task": 1,
    "gpus_per_node": 0,
    "mem_gb": 1,
    "array_parallelism": 1,
}
# The packages of each Keras backend, and the lab's extra that installs them.
_BACKEND_PACKAGES = {
    "tensorflow": (("tensorflow",), "tensorflow-cpu"),
    "jax": (("jax", "jaxlib"), "jax"),
    "torch": (("torch",), "torch"),
}
_INT8_ACCEPTED = (
    "int4, float8, gptq, awq or null with trainer.precision=mixed_float16 (Keras quantizes int8 only under "
    "float32 or bfloat16 compute)"
)


def validate_config(cfg):
    """Raises `ConfigError` for the first key of `cfg` whose value cannot work."""
    validate_values(cfg)
    validate_keras_names(cfg)


def validate_values(cfg):
    """Raises `ConfigError` for the first key whose value cannot work, Keras names aside."""
    for key, low, high in _INTEGER_RANGES:
        _require_range(key, OmegaConf.select(cfg, key), low, high)
    int8_on_float16 = (cfg.quantize and cfg.quantize.name, cfg.trainer.precision.name)
    _require(int8_on_float16 != ("int8", "mixed_float16"), "quantize", "int8", _INT8_ACCEPTED)
    require_backend_installed(cfg.backend.value)
    jit = cfg.trainer.jit_compile
    _require(
        str(jit).lower() in ("auto", "true", "false"),
        "trainer.jit_compile",
        jit,
        "auto, true or false",
    )
    rate, momentum = cfg.optimizer.learning_rate, cfg.optimizer.get("momentum", 0.0)
    _require(rate > 0, "optimizer.learning_rate", rate, "a number > 0")
    _require(0 <= momentum < 1, "optimizer.momentum", momentum, "a number in [0, 1)")
    name = cfg.mlflow.experiment_name
    _require(
        0 < len(name.strip()) <= MAX_EXPERIMENT_NAME,
        "mlflow.experiment_name",
        name,
        f"a non-empty name of at most {MAX_EXPERIMENT_NAME} characters",
    )
    _validate_dataset(cfg.dataset)
    timing = cfg.pair_timing
    _require(
        timing.rounds == 0 or 2 <= timing.rounds <= MAX_PAIR_TIMING_ROUNDS,  # an interval needs 2
        "pair_timing.rounds",
        timing.rounds,
        f"0 (no paired timing) or an integer in [2, {MAX_PAIR_TIMING_ROUNDS}]",
    )
    if timing.rounds:
        _require_range(
            "pair_timing.max_rounds", timing.max_rounds, timing.rounds, MAX_PAIR_TIMING_ROUNDS
        )
    _require(0 < timing.target < 1, "pair_timing.target", timing.target, "a fraction > 0 and < 1")
    _require(
        0 < timing.seconds_per_sample <= MAX_SECONDS_PER_SAMPLE,
        "pair_timing.seconds_per_sample",
        timing.seconds_per_sample,
        f"a number of seconds > 0 and <= {MAX_SECONDS_PER_SAMPLE}",
    )
    workers = OmegaConf.select(cfg, "hydra.launcher.n_jobs")
    _require(
        workers != 0,
        "hydra.launcher.n_jobs",
        workers,
        "a number of worker processes: 1 or more, or -1 for one per core",
    )
    for name, low in _LAUNCHER_MINIMUMS.items():
        value = OmegaConf.select(cfg, f"hydra.launcher.{name}")
        if value is not None:
            _require_range(f"hydra.launcher.{name}", value, low)
    _validate_ray_task(OmegaConf.select(cfg, "hydra.launcher.ray.remote") or {})


def _validate_ray_task(remote):
    """`hydra/launcher=ray`'s options of each job's task, which Ray itself checks only once launched."""
    for key, accepted, ok in (
        ("num_cpus", "a number of CPUs >= 0", lambda v: _is_number(v) and v >= 0),
        ("num_gpus", "a number of GPUs >= 0", lambda v: _is_number(v) and v >= 0),
        ("memory", "null or a number of bytes > 0", lambda v: _is_number(v, int) and v > 0),
        (
            "max_retries",
            "an integer >= 0, or -1: no limit",
            lambda v: _is_number(v, int) and v >= -1,
        ),
    ):
        value = remote.get(key)
        _require(value is None or ok(value), f"hydra.launcher.ray.remote.{key}", value, accepted)


def _is_number(value, kind=(int, float)):
    return isinstance(value, kind) and not isinstance(value, bool)


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
    _require(
        n_test >= 1 and n_train >= 1,
        "dataset.n_samples",
        dataset.n_samples,
        "enough samples for a non-empty train, validation and test split",
    )


def require_backend_installed(backend):
    """Raises `ConfigError` when the packages of a Keras backend are not installed here."""
    packages, extra = _BACKEND_PACKAGES[backend]
    missing = [name for name in packages if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(
            "backend",
            backend,
            f"a backend installed here (missing: {', '.join(missing)}; "
            f"pip install 'custom-dense[lab,{extra}]')",
        )


def _require_range(key, value, low, high=None):
    if value < low or (high is not None and value > high):
        accepted = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
        raise ConfigError(key, value, accepted)


def _require_fraction(key, value):
    _require(0.0 < value < 1.0, key, value, "a fraction strictly between 0 and 1")


def _require(ok, key, value, accepted):
    if not ok:
        raise ConfigError(key, value, accepted)


def validate_keras_names(cfg):
    """Raises `ConfigError` for an activation or initializer Keras does not have (imports Keras)."""
    _require_activation("model.activation", cfg.model.activation)
    _require_initializer("model.kernel_initializer", cfg.model.kernel_initializer, (4, 4))
    _require_initializer("model.bias_initializer", cfg.model.bias_initializer, (4,))


@functools.cache
def _require_activation(key, name):
    import keras

    try:
        activation = keras.activations.get(name)
    except (ValueError, TypeError):
        activation = None
    if not callable(activation) or activation.__module__.split(".")[:2] != ["keras", "src"]:
        raise ConfigError(
            key, name, "the name of a Keras activation, e.g. relu, tanh, gelu, sigmoid, linear"
        )


@functools.cache
def _require_initializer(key, name, shape):
    """Accepts the name of a Keras initializer that can fill a weight of `shape`."""
    import keras

    accepted = "the name of a Keras initializer, e.g. glorot_uniform, he_normal, orthogonal, zeros"
    try:
        initializer = keras.initializers.get(name)
    except (ValueError, TypeError):
        raise ConfigError(key, name, accepted) from None
    if not isinstance(initializer, keras.initializers.Initializer):
        raise ConfigError(key, name, accepted)
    try:
        initializer(shape)
    except (ValueError, TypeError) as error:
        reason = str(error).splitlines()[0]
        raise ConfigError(
            key, name, f"an initializer that can fill a {len(shape)}-D weight ({reason})"
        ) from None
