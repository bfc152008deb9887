"""Checks of a `dataset` config that need no data: names, fractions, sizes."""

from custom_dense.data.sources import DATASET_NAMES
from custom_dense.errors import ConfigError


def validate_dataset_config(config):
    """Raises `ConfigError` naming the first `dataset.*` key whose value cannot work."""
    if config.name not in DATASET_NAMES:
        raise ConfigError("dataset", config.name, f"one of {', '.join(DATASET_NAMES)}")
    _require_fraction("dataset.val_fraction", config.val_fraction)
    if config.name != "synthetic":
        return
    _require_fraction("dataset.test_fraction", config.test_fraction)
    if config.n_classes < 2:
        raise ConfigError("dataset.n_classes", config.n_classes, "an integer >= 2")
    if config.n_features < 1:
        raise ConfigError("dataset.n_features", config.n_features, "a positive integer")
    if config.n_classes > 2**config.n_features:
        raise ConfigError(
            "dataset.n_classes",
            config.n_classes,
            f"at most 2**dataset.n_features = {2**config.n_features}",
        )
    if config.n_samples < config.n_classes:
        raise ConfigError(
            "dataset.n_samples",
            config.n_samples,
            f"at least dataset.n_classes={config.n_classes}",
        )
    n_test = round(config.n_samples * config.test_fraction)
    n_train = (
        config.n_samples - n_test - max(1, round((config.n_samples - n_test) * config.val_fraction))
    )
    if n_test < 1 or n_train < 1:
        raise ConfigError(
            "dataset.n_samples",
            config.n_samples,
            "enough samples for a non-empty train, validation and test split",
        )


def _require_fraction(key, value):
    if not 0.0 < value < 1.0:
        raise ConfigError(key, value, "a fraction strictly between 0 and 1")
