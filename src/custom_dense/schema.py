"""The typed schema of the Hydra config, registered in Hydra's ConfigStore.

Every key has a type here, so Hydra rejects a wrong type when it composes the
config; `custom_dense.validation` checks the values.
"""

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class LayerConfig:
    name: str = "custom"


@dataclass
class DeviceConfig:
    name: str = "auto"


@dataclass
class OptimizerConfig:
    name: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.0


@dataclass
class DatasetConfig:
    name: str = MISSING
    val_fraction: float = 0.1


@dataclass
class TFDSDatasetConfig(DatasetConfig):
    data_dir: str | None = None
    download: bool = True


@dataclass
class SyntheticDatasetConfig(DatasetConfig):
    name: str = "synthetic"
    n_samples: int = 4000
    n_features: int = 64
    n_classes: int = 10
    test_fraction: float = 0.2


@dataclass
class ModelConfig:
    units: int = 64
    depth: int = 2
    activation: str = "relu"
    kernel_initializer: str = "glorot_uniform"
    bias_initializer: str = "zeros"
    use_bias: bool = True


@dataclass
class TrainerConfig:
    epochs: int = 20
    batch_size: int = 64
    precision: str = "float32"
    deterministic: bool = False
    verbose: str = "auto"


@dataclass
class MlflowConfig:
    experiment_name: str = "custom-dense"
    tracking_uri: str | None = None
    log_model: bool = True


@dataclass
class Config:
    layer: LayerConfig = MISSING
    dataset: DatasetConfig = MISSING
    device: DeviceConfig = MISSING
    optimizer: OptimizerConfig = MISSING
    model: ModelConfig = field(default_factory=ModelConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    mlflow: MlflowConfig = field(default_factory=MlflowConfig)
    seed: int = 0


GROUP_SCHEMAS = {
    "layer": LayerConfig,
    "device": DeviceConfig,
    "optimizer": OptimizerConfig,
    "dataset": TFDSDatasetConfig,
}


def register_schemas():
    """Stores the schemas: `config_schema` and one `<group>/_schema` per config group."""
    store = ConfigStore.instance()
    store.store(name="config_schema", node=Config)
    for group, schema in GROUP_SCHEMAS.items():
        store.store(group=group, name="_schema", node=schema)
    store.store(group="dataset", name="_synthetic_schema", node=SyntheticDatasetConfig)
