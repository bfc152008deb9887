"""`validate_values` and `validate_keras_names`: what a config's types cannot refuse."""

import pytest
from helpers import compose_config

from custom_dense_lab.config.schema import MAX_DEPTH, MAX_SEED, MAX_UNITS
from custom_dense_lab.config.validation import validate_keras_names, validate_values
from custom_dense_lab.errors import ConfigError

SYNTHETIC = ("dataset=synthetic", "dataset.n_samples=300", "dataset.n_features=12")


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["dataset.val_fraction=0.0"], "dataset.val_fraction"),
        (["dataset.val_fraction=1.0"], "dataset.val_fraction"),
        (["dataset.val_fraction=-0.2"], "dataset.val_fraction"),
        ([*SYNTHETIC, "dataset.n_classes=3", "dataset.n_samples=2"], "dataset.n_samples"),
        ([*SYNTHETIC, "dataset.n_classes=2", "dataset.n_samples=2"], "dataset.n_samples"),
        ([*SYNTHETIC, "dataset.n_classes=1"], "dataset.n_classes"),
        ([*SYNTHETIC, "dataset.n_features=0"], "dataset.n_features"),
        ([*SYNTHETIC, "dataset.n_features=2", "dataset.n_classes=5"], "dataset.n_classes"),
        ([*SYNTHETIC, "dataset.test_fraction=1.5"], "dataset.test_fraction"),
        (["optimizer.learning_rate=0"], "optimizer.learning_rate"),
        (["optimizer=sgd", "optimizer.momentum=1.0"], "optimizer.momentum"),
        (["trainer.epochs=0"], "trainer.epochs"),
        (["trainer.batch_size=0"], "trainer.batch_size"),
        ([f"model.units={MAX_UNITS + 1}"], "model.units"),
        ([f"model.depth={MAX_DEPTH + 1}"], "model.depth"),
        ([f"seed={MAX_SEED + 1}"], "seed"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else value,
)
def test_bad_settings_name_key_value_and_accepted(overrides, key):
    with pytest.raises(ConfigError) as raised:
        validate_values(compose_config(*overrides))
    assert raised.value.key == key
    assert f"Invalid {key}=" in str(raised.value) and "expected" in str(raised.value)


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["layer=stock", "optimizer=sgd", "model.depth=0", "model.activation=gelu"],
        [*SYNTHETIC, "dataset.n_classes=3"],
        ["model.kernel_initializer=orthogonal", "model.bias_initializer=random_normal"],
        [f"seed={MAX_SEED}", f"model.units={MAX_UNITS}", f"model.depth={MAX_DEPTH}"],
    ],
)
def test_good_settings_pass(overrides):
    cfg = compose_config(*overrides)
    validate_values(cfg)
    validate_keras_names(cfg)
