"""The config's types: Enums for the values a key accepts, else a test (`accepts`)."""

import enum
from dataclasses import dataclass, field, make_dataclass

from hydra.core.config_store import ConfigStore

MAX_DEPTH = 512  # 1000 hidden layers reach Python's recursion limit when TensorFlow traces the step
MAX_UNITS = 2**14  # a 16384 x 16384 float32 kernel weighs 1 GiB, before its gradient and slots
MAX_SEED = 2**32 - 1
MAX_ROUNDS = 1000
Precision = enum.Enum("Precision", {n: n for n in ("float32", "mixed_float16", "mixed_bfloat16")})
Backend = enum.Enum("Backend", {n: n for n in ("tensorflow", "jax", "torch")})
Quantization = enum.Enum("Quantization", {n: n for n in ("int8", "int4", "float8", "gptq", "awq")})
Verbosity = enum.Enum("Verbosity", {"auto": -1, "silent": 0, "progress_bar": 1, "one_line": 2})
_JIT_COMPILE = ("auto", "true", "false")  # a string: `true` on the command line is a boolean
LayerConfig = make_dataclass("LayerConfig", [("name", str), ("dense_class", str)])
DeviceConfig = make_dataclass("DeviceConfig", [("name", str)])


def accepts(words, test):
    return field(metadata={"accepts": (words, test)})


def integer(low, high=None):
    words = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
    return accepts(words, lambda value: low <= value and (high is None or value <= high))


@dataclass
class OptimizerConfig:
    _target_: str
    name: str
    learning_rate: float = accepts("a number > 0", lambda value: value > 0)


@dataclass
class SGDConfig(OptimizerConfig):
    momentum: float = accepts("a number in [0, 1)", lambda value: 0 <= value < 1)


@dataclass
class DatasetConfig:
    name: str
    val_fraction: float = accepts("a fraction strictly between 0 and 1", lambda v: 0 < v < 1)


TFDSDatasetConfig = make_dataclass(
    "TFDSDatasetConfig", [("data_dir", str | None), ("download", bool)], bases=(DatasetConfig,)
)
# Pickled by name, as a job's config goes to a backend's worker.
LayerConfig.__module__ = DeviceConfig.__module__ = TFDSDatasetConfig.__module__ = __name__


@dataclass
class SyntheticDatasetConfig(DatasetConfig):
    n_samples: int  # enough for every class and split (`validation`)
    n_features: int = integer(1)
    n_classes: int = integer(2)  # at most 2**n_features
    test_fraction: float = accepts("a fraction strictly between 0 and 1", lambda v: 0 < v < 1)


@dataclass
class ModelConfig:
    _target_: str
    units: int = integer(1, MAX_UNITS)
    depth: int = integer(0, MAX_DEPTH)
    activation: str  # a Keras name, as are the initializers (`validation`)
    kernel_initializer: str
    bias_initializer: str
    use_bias: bool


@dataclass
class TrainerConfig:
    epochs: int = integer(1)
    batch_size: int = integer(1)
    precision: Precision
    deterministic: bool
    verbose: Verbosity
    reuse: bool
    jit_compile: str = accepts("auto, true or false", lambda v: str(v).lower() in _JIT_COMPILE)


@dataclass
class MlflowConfig:
    experiment_name: str = accepts(  # MLflow's limit
        "a non-empty name of at most 500 characters", lambda name: 0 < len(name.strip()) <= 500
    )
    tracking_uri: str | None
    log_model: bool
    register_model: bool


@dataclass
class PairTimingConfig:
    rounds: int = accepts(  # an interval needs 2
        f"0 (no paired timing) or an integer in [2, {MAX_ROUNDS}]",
        lambda rounds: rounds == 0 or 2 <= rounds <= MAX_ROUNDS,
    )
    max_rounds: int  # in [rounds, MAX_ROUNDS] (`validation`)
    target: float = accepts("a fraction > 0 and < 1", lambda value: 0 < value < 1)
    seconds_per_sample: float = accepts("a number of seconds > 0 and <= 60", lambda s: 0 < s <= 60)


@dataclass
class Config:
    layer: LayerConfig
    dataset: DatasetConfig
    device: DeviceConfig
    optimizer: OptimizerConfig
    model: ModelConfig
    trainer: TrainerConfig
    mlflow: MlflowConfig
    seed: int = integer(0, MAX_SEED)
    backend: Backend
    quantize: Quantization | None  # not int8 with trainer.precision=mixed_float16 (`validation`)
    calibration_batches: int = integer(1)
    pair_timing: PairTimingConfig


# Registered with Hydra on import: `config_schema`, and each group option's as `<group>/_<name>`.
for _group, _name, _node in (
    (None, "config_schema", Config),
    ("layer", "_schema", LayerConfig),
    ("device", "_schema", DeviceConfig),
    ("optimizer", "_schema", OptimizerConfig),
    ("optimizer", "_sgd_schema", SGDConfig),
    ("dataset", "_schema", TFDSDatasetConfig),
    ("dataset", "_synthetic_schema", SyntheticDatasetConfig),
):
    ConfigStore.instance().store(group=_group, name=_name, node=_node, replace=True)
