"""Value checks of a composed config, run before any TensorFlow work."""

import keras

from custom_dense.data.validation import validate_dataset_config
from custom_dense.errors import ConfigError

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
LAYERS = ("custom", "stock")
DEVICES = ("auto", "cpu", "gpu")
OPTIMIZERS = ("adam", "sgd")
VERBOSITY = ("auto", "0", "1", "2")


def validate_config(cfg):
    """Raises `ConfigError` naming the first key whose value cannot work.

    Args:
        cfg: The composed job config (`custom_dense.schema.Config`).
    """
    _require_choice("layer", cfg.layer.name, LAYERS)
    _require_choice("device", cfg.device.name, DEVICES)
    _require_choice("optimizer", cfg.optimizer.name, OPTIMIZERS)
    _require_positive("model.units", cfg.model.units)
    if cfg.model.depth < 0:
        raise ConfigError("model.depth", cfg.model.depth, "an integer >= 0")
    _require_known("model.activation", cfg.model.activation, keras.activations.get, "activation")
    for key in ("kernel_initializer", "bias_initializer"):
        value = getattr(cfg.model, key)
        _require_known(f"model.{key}", value, keras.initializers.get, "initializer")
    _require_positive("trainer.epochs", cfg.trainer.epochs)
    _require_positive("trainer.batch_size", cfg.trainer.batch_size)
    _require_choice("trainer.precision", cfg.trainer.precision, PRECISIONS)
    _require_choice("trainer.verbose", str(cfg.trainer.verbose), VERBOSITY)
    if not cfg.optimizer.learning_rate > 0:
        raise ConfigError("optimizer.learning_rate", cfg.optimizer.learning_rate, "a number > 0")
    if not 0 <= cfg.optimizer.momentum < 1:
        raise ConfigError("optimizer.momentum", cfg.optimizer.momentum, "a number in [0, 1)")
    validate_dataset_config(cfg.dataset)


def _require_choice(key, value, accepted):
    if value not in accepted:
        raise ConfigError(key, value, f"one of {', '.join(accepted)}")


def _require_positive(key, value):
    if value < 1:
        raise ConfigError(key, value, "a positive integer")


def _require_known(key, name, lookup, kind):
    try:
        found = lookup(name)
    except (ValueError, TypeError):
        found = None
    if found is None:
        raise ConfigError(key, name, f"the name of a Keras {kind}, e.g. {_examples(kind)}")


def _examples(kind):
    if kind == "activation":
        return "relu, tanh, gelu, sigmoid, linear"
    return "glorot_uniform, he_normal, lecun_normal, orthogonal, zeros"
