"""Checks of a composed config's values that its types cannot express.

Types, Enum choices and group options are Hydra's to check when it composes
the config (`custom_dense_lab.config.compose`); what remains is here: ranges,
Keras names, and the rules that tie one key to another. Only the Keras names
need Keras (and so the backend, TensorFlow say): `validate_values` checks the
rest without it, seconds sooner for a command line that is refused.
"""

import importlib.util

from custom_dense_lab.errors import ConfigError

# 512 hidden layers train; 1000 reach Python's recursion limit when TensorFlow traces the step.
MAX_DEPTH = 512
# A hidden-to-hidden kernel of 16384 x 16384 float32 weighs 1 GiB, before its gradient and
# the optimizer's slots.
MAX_UNITS = 2**14
MAX_SEED = 2**32 - 1
MAX_EXPERIMENT_NAME = 500  # MLflow's limit
# Paired timing at a sweep's end: at most 1000 rounds of at most a minute per sample.
MAX_PAIR_TIMING_ROUNDS = 1000
MAX_SECONDS_PER_SAMPLE = 60.0
JIT_COMPILE_VALUES = ("auto", "true", "false")
# The packages a Keras backend needs, and the lab's extra that installs them.
_BACKEND_PACKAGES = {
    "tensorflow": (("tensorflow",), "tensorflow-cpu"),
    "jax": (("jax", "jaxlib"), "jax"),
    "torch": (("torch",), "torch"),
}
_ACTIVATION_EXAMPLES = "relu, tanh, gelu, sigmoid, linear"
_INITIALIZER_EXAMPLES = "glorot_uniform, he_normal, lecun_normal, orthogonal, zeros"


def validate_config(cfg):
    """Raises `ConfigError` naming the first key whose value cannot work.

    Args:
        cfg: A composed job config (see `custom_dense_lab.config.schema.Config`).
    """
    validate_values(cfg)
    validate_keras_names(cfg)


def validate_keras_names(cfg):
    """Raises `ConfigError` for an activation or initializer that Keras does not have.

    Imports Keras, and with it the backend.

    Args:
        cfg: A composed job config.
    """
    _require_activation("model.activation", cfg.model.activation)
    _require_initializer("model.kernel_initializer", cfg.model.kernel_initializer, (4, 4))
    _require_initializer("model.bias_initializer", cfg.model.bias_initializer, (4,))


def validate_values(cfg):
    """Raises `ConfigError` naming the first key whose value cannot work, Keras names aside.

    Args:
        cfg: A composed job config.
    """
    _require_range("seed", cfg.seed, 0, MAX_SEED)
    _require_range("model.units", cfg.model.units, 1, MAX_UNITS)
    _require_range("model.depth", cfg.model.depth, 0, MAX_DEPTH)
    _require_quantizable(cfg.quantize, cfg.trainer.precision)
    require_backend_installed(cfg.backend.value)
    if str(cfg.trainer.jit_compile).lower() not in JIT_COMPILE_VALUES:
        raise ConfigError("trainer.jit_compile", cfg.trainer.jit_compile, "auto, true or false")
    _require_range("trainer.epochs", cfg.trainer.epochs, 1)
    _require_range("trainer.batch_size", cfg.trainer.batch_size, 1)
    if not cfg.optimizer.learning_rate > 0:
        raise ConfigError("optimizer.learning_rate", cfg.optimizer.learning_rate, "a number > 0")
    if not 0 <= cfg.optimizer.get("momentum", 0.0) < 1:
        raise ConfigError("optimizer.momentum", cfg.optimizer.momentum, "a number in [0, 1)")
    if not 0 < len(cfg.mlflow.experiment_name.strip()) <= MAX_EXPERIMENT_NAME:
        raise ConfigError(
            "mlflow.experiment_name",
            cfg.mlflow.experiment_name,
            f"a non-empty name of at most {MAX_EXPERIMENT_NAME} characters",
        )
    _validate_dataset(cfg.dataset)
    rounds = cfg.pair_timing.rounds
    if rounds != 0 and not 2 <= rounds <= MAX_PAIR_TIMING_ROUNDS:  # an interval needs two
        raise ConfigError(
            "pair_timing.rounds",
            rounds,
            f"0 (no paired timing) or an integer in [2, {MAX_PAIR_TIMING_ROUNDS}]",
        )
    if not 0 < cfg.pair_timing.seconds_per_sample <= MAX_SECONDS_PER_SAMPLE:
        raise ConfigError(
            "pair_timing.seconds_per_sample",
            cfg.pair_timing.seconds_per_sample,
            f"a number of seconds > 0 and <= {MAX_SECONDS_PER_SAMPLE}",
        )


def _require_quantizable(quantize, precision):
    """int8 with float16 compute is refused by Keras's `quantize`: say it before the job trains."""
    if quantize is not None and quantize.name == "int8" and precision.name == "mixed_float16":
        raise ConfigError(
            "quantize",
            quantize.name,
            "int4, float8 or null with trainer.precision=mixed_float16 (Keras quantizes int8 "
            "only under float32 or bfloat16 compute)",
        )


def _validate_dataset(dataset):
    _require_fraction("dataset.val_fraction", dataset.val_fraction)
    if dataset.name != "synthetic":
        return
    _require_fraction("dataset.test_fraction", dataset.test_fraction)
    _require_range("dataset.n_features", dataset.n_features, 1)
    _require_range("dataset.n_classes", dataset.n_classes, 2)
    if dataset.n_classes > 2**dataset.n_features:
        raise ConfigError(
            "dataset.n_classes",
            dataset.n_classes,
            f"at most 2**dataset.n_features = {2**dataset.n_features}",
        )
    _require_range("dataset.n_samples", dataset.n_samples, dataset.n_classes)
    n_test = round(dataset.n_samples * dataset.test_fraction)
    n_train_and_val = dataset.n_samples - n_test
    n_train = n_train_and_val - max(1, round(n_train_and_val * dataset.val_fraction))
    if n_test < 1 or n_train < 1:
        raise ConfigError(
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
    if not 0.0 < value < 1.0:
        raise ConfigError(key, value, "a fraction strictly between 0 and 1")


def _require_activation(key, name):
    import keras

    try:
        activation = keras.activations.get(name)
    except (ValueError, TypeError):
        activation = None
    if not callable(activation) or activation.__module__.split(".")[:2] != ["keras", "src"]:
        raise ConfigError(key, name, f"the name of a Keras activation, e.g. {_ACTIVATION_EXAMPLES}")


def _require_initializer(key, name, shape):
    """Accepts Keras initializer names that can fill a weight of `shape` (2-D kernel, 1-D bias)."""
    import keras

    accepted = f"the name of a Keras initializer, e.g. {_INITIALIZER_EXAMPLES}"
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
