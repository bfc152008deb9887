"""The types of the Hydra config: each key's type, and through Enums the values it accepts.

The YAML files in `conf/` hold the values; a field without a default is required.
"""

import enum
from dataclasses import dataclass

from hydra.core.config_store import ConfigStore

Precision = enum.Enum("Precision", {n: n for n in ("float32", "mixed_float16", "mixed_bfloat16")})
Backend = enum.Enum("Backend", {n: n for n in ("tensorflow", "jax", "torch")})
Quantization = enum.Enum("Quantization", {n: n for n in ("int8", "int4", "float8", "gptq", "awq")})
Verbosity = enum.Enum("Verbosity", {"auto": -1, "silent": 0, "progress_bar": 1, "one_line": 2})


@dataclass
class LayerConfig:
    name: str
    dense_class: str


@dataclass
class DeviceConfig:
    name: str


@dataclass
class OptimizerConfig:
    _target_: str
    name: str
    learning_rate: float


@dataclass
class SGDConfig(OptimizerConfig):
    momentum: float


@dataclass
class DatasetConfig:
    name: str
    val_fraction: float


@dataclass
class TFDSDatasetConfig(DatasetConfig):
    data_dir: str | None
    download: bool


@dataclass
class SyntheticDatasetConfig(DatasetConfig):
    n_samples: int
    n_features: int
    n_classes: int
    test_fraction: float


@dataclass
class ModelConfig:
    _target_: str
    units: int
    depth: int
    activation: str
    kernel_initializer: str
    bias_initializer: str
    use_bias: bool


@dataclass
class TrainerConfig:
    epochs: int
    batch_size: int
    precision: Precision
    deterministic: bool
    verbose: Verbosity
    reuse: bool
    jit_compile: str  # "auto", "true" or "false": `true` on the command line arrives as a boolean


@dataclass
class MlflowConfig:
    experiment_name: str
    tracking_uri: str | None
    log_model: bool
    register_model: bool


@dataclass
class PairTimingConfig:
    rounds: int
    max_rounds: int
    target: float
    seconds_per_sample: float


@dataclass
class Config:
    layer: LayerConfig
    dataset: DatasetConfig
    device: DeviceConfig
    optimizer: OptimizerConfig
    model: ModelConfig
    trainer: TrainerConfig
    mlflow: MlflowConfig
    seed: int
    backend: Backend
    quantize: Quantization | None
    calibration_batches: int
    pair_timing: PairTimingConfig


def register_schemas():
    """Stores `config_schema`, and the schemas of the groups' options as `<group>/_<name>`."""
    store = ConfigStore.instance()
    store.store(name="config_schema", node=Config)
    for group, name, schema in (
        ("layer", "_schema", LayerConfig),
        ("device", "_schema", DeviceConfig),
        ("optimizer", "_schema", OptimizerConfig),
        ("optimizer", "_sgd_schema", SGDConfig),
        ("dataset", "_schema", TFDSDatasetConfig),
        ("dataset", "_synthetic_schema", SyntheticDatasetConfig),
    ):
        store.store(group=group, name=name, node=schema)
