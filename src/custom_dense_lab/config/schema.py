"""The types of the Hydra config: each key's type, and through Enums the values it accepts.

The YAML files in `conf/` hold the values; Hydra checks them against these
dataclasses as it composes. A group's options are its YAML files.
"""

import enum
from dataclasses import dataclass

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


class Precision(enum.Enum):
    float32 = "float32"
    mixed_float16 = "mixed_float16"
    mixed_bfloat16 = "mixed_bfloat16"


class Backend(enum.Enum):
    tensorflow = "tensorflow"
    jax = "jax"
    torch = "torch"


class Quantization(enum.Enum):
    int8 = "int8"
    int4 = "int4"
    float8 = "float8"
    gptq = "gptq"
    awq = "awq"


class Verbosity(enum.Enum):
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
    register_model: bool = MISSING


@dataclass
class PairTimingConfig:
    rounds: int = MISSING
    max_rounds: int = MISSING
    target: float = MISSING
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
    calibration_batches: int = MISSING
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
