"""The types of the Hydra config, registered in Hydra's ConfigStore.

The YAML files in `conf/` hold every value and default; these dataclasses say
what type each key has and, through Enums, which values a key with a fixed set
of them accepts. Hydra checks both when it composes the config. The options of
a config group (`layer`, `dataset`, `device`, `optimizer`) are its YAML files.
"""

import enum
from dataclasses import dataclass

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


class Precision(enum.Enum):
    """Keras dtype policies a job may train under."""

    float32 = "float32"
    mixed_float16 = "mixed_float16"
    mixed_bfloat16 = "mixed_bfloat16"


class Backend(enum.Enum):
    """Keras backends a job may run on, each in a process of its own (see `process.backends`)."""

    tensorflow = "tensorflow"
    jax = "jax"
    torch = "torch"


class Quantization(enum.Enum):
    """Post-training quantization modes of `keras.Model.quantize` a job may apply after training."""

    int8 = "int8"
    int4 = "int4"
    float8 = "float8"


class Verbosity(enum.Enum):
    """`model.fit` verbosity: `auto` (a progress bar on a terminal, outside sweeps) or 0, 1, 2."""

    auto = -1
    silent = 0
    progress_bar = 1
    one_line = 2


@dataclass
class LayerConfig:
    name: str = MISSING
    dense_class: str = MISSING


@dataclass
class DeviceConfig:
    name: str = MISSING


@dataclass
class OptimizerConfig:
    _target_: str = MISSING
    name: str = MISSING
    learning_rate: float = MISSING


@dataclass
class SGDConfig(OptimizerConfig):
    momentum: float = MISSING


@dataclass
class DatasetConfig:
    name: str = MISSING
    val_fraction: float = MISSING


@dataclass
class TFDSDatasetConfig(DatasetConfig):
    data_dir: str | None = MISSING
    download: bool = MISSING


@dataclass
class SyntheticDatasetConfig(DatasetConfig):
    n_samples: int = MISSING
    n_features: int = MISSING
    n_classes: int = MISSING
    test_fraction: float = MISSING


@dataclass
class ModelConfig:
    _target_: str = MISSING
    units: int = MISSING
    depth: int = MISSING
    activation: str = MISSING
    kernel_initializer: str = MISSING
    bias_initializer: str = MISSING
    use_bias: bool = MISSING


@dataclass
class TrainerConfig:
    epochs: int = MISSING
    batch_size: int = MISSING
    precision: Precision = MISSING
    deterministic: bool = MISSING
    verbose: Verbosity = MISSING
    reuse: bool = MISSING
    # "auto", "true" or "false" (a string: `true` on the command line arrives as a boolean).
    jit_compile: str = MISSING


@dataclass
class MlflowConfig:
    experiment_name: str = MISSING
    tracking_uri: str | None = MISSING
    log_model: bool = MISSING


@dataclass
class PairTimingConfig:
    rounds: int = MISSING
    seconds_per_sample: float = MISSING


@dataclass
class Config:
    layer: LayerConfig = MISSING
    dataset: DatasetConfig = MISSING
    device: DeviceConfig = MISSING
    optimizer: OptimizerConfig = MISSING
    model: ModelConfig = MISSING
    trainer: TrainerConfig = MISSING
    mlflow: MlflowConfig = MISSING
    seed: int = MISSING
    backend: Backend = MISSING
    quantize: Quantization | None = MISSING
    pair_timing: PairTimingConfig = MISSING


_GROUP_SCHEMAS = {
    ("layer", "_schema"): LayerConfig,
    ("device", "_schema"): DeviceConfig,
    ("optimizer", "_schema"): OptimizerConfig,
    ("optimizer", "_sgd_schema"): SGDConfig,
    ("dataset", "_schema"): TFDSDatasetConfig,
    ("dataset", "_synthetic_schema"): SyntheticDatasetConfig,
}


def register_schemas():
    """Stores `config_schema`, and the schemas of the groups' options as `<group>/_<name>`."""
    store = ConfigStore.instance()
    store.store(name="config_schema", node=Config)
    for (group, name), schema in _GROUP_SCHEMAS.items():
        store.store(group=group, name=name, node=schema)
