"""`compose_command_line`, then `validate_keras_names`: every job's config composed and
checked before any job runs, as `custom-dense-train` checks its command line.

Each refusal is one `ConfigError` line that names the key, the value and what is
accepted; `python -m custom_dense_lab.train` prints it as `error: <line>` and exits 2
(tests/e2e/test_train_cli.py).
"""

import shutil

import pytest
from helpers import compose_config

from custom_dense_lab.config import CONFIG_DIR
from custom_dense_lab.config.schema import MAX_DEPTH, MAX_SEED, MAX_UNITS
from custom_dense_lab.config.validation import compose_command_line, validate_keras_names
from custom_dense_lab.errors import ConfigError

MODEL_KEYS = "`model` has activation, bias_initializer, depth, kernel_initializer, units, use_bias"


def check_command_line(args, config_dir):
    """Every check of `custom-dense-train`'s command line; returns the first job's config."""
    configs = compose_command_line(args, config_dir)
    for cfg in configs:
        validate_keras_names(cfg)
    return configs[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["layer=foo"], "Invalid layer='foo': expected one of custom, stock."),
        (["dataset=cifar"], "Invalid dataset='cifar': expected one of digits, fashion_mnist"),
        (["optimizer=rmsprop"], "Invalid optimizer='rmsprop': expected one of adam, sgd."),
        (["+experiment=nope"], "Invalid experiment='nope': expected one of "),
        (["hydra/launcher=nonexistent"], "Invalid hydra/launcher='nonexistent': expected one of "),
        (["model.foo=1"], f"Invalid model.foo='1': expected a key of the config; {MODEL_KEYS}."),
        (
            ["+model.unit=128"],
            f"Invalid model.unit='128': expected a key of the config; {MODEL_KEYS}",
        ),
        (["++model.unit=1"], f"Invalid model.unit='1': expected a key of the config; {MODEL_KEYS}"),
        (["model.units=abc"], "Invalid model.units='abc': expected an integer."),
        (["trainer.epochs=2.5"], "Invalid trainer.epochs='2.5': expected an integer."),
        (
            ["trainer.precision=fp8"],
            "Invalid trainer.precision='fp8': expected one of float32, mixed_float16, mixed_bfloat16.",
        ),
        (["trainer.precision=float7"], "Invalid trainer.precision='float7': expected one of"),
        (["trainer.verbose=3"], "Invalid trainer.verbose='3': expected one of auto, silent (0),"),
        (["model.units=["], "Invalid override='model.units=[': expected key=value in Hydra's"),
        (
            ["-m", "quantize=choice(null,int8)"],
            "Invalid override='quantize=choice(null,int8)': expected key=value in Hydra's override "
            "grammar (TypeError while evaluating 'choice(null,int8)': mismatch type argument",
        ),
        (["model.activation=ré"], "Invalid override='model.activation=ré': expected key=value"),
        (["-m", "model.units=8,abc"], "Invalid model.units='abc': expected an integer."),
        (
            ["-m", "layer=custom,stock", "model.units=8,16,abc", "seed=0,1"],
            "Invalid model.units='abc': expected an integer.",
        ),
        (
            ["-m", "model.units=8,16,32", "layer=custom,nope"],
            "Invalid layer='nope': expected one of custom, stock.",
        ),
        (  # the third dataset meets the first n_samples again, as it will in the sweep
            ["-m", "dataset=synthetic,synthetic,digits", "dataset.n_samples=100,200"],
            "Invalid dataset.n_samples='100': expected a key of the config; `dataset` has",
        ),
        (  # the option of the swept group that lacks the key is named
            ["-m", "dataset=synthetic,digits", "dataset.n_samples=100", "seed=0,1"],
            "Invalid dataset.n_samples='100': expected a key of the config; `dataset` has "
            "data_dir, download, name, val_fraction (in the sweep's jobs with dataset=digits).",
        ),
        (
            ["-m", "model.activation=relu,swishy"],
            "Invalid model.activation='swishy': expected the name of a Keras activation",
        ),
        (
            ["-m", "model.units=8,0"],
            f"Invalid model.units=0: expected an integer in [1, {MAX_UNITS}].",
        ),
        (["model.units=-5"], f"Invalid model.units=-5: expected an integer in [1, {MAX_UNITS}]."),
        (["seed=-1"], f"Invalid seed=-1: expected an integer in [0, {MAX_SEED}]."),
        (
            ["quantize=int2"],
            "Invalid quantize='int2': expected one of int8, int4, float8",
        ),
        (
            ["-m", "quantize=int4,int8", "trainer.precision=mixed_float16"],
            "Invalid quantize='int8': expected int4, float8",
        ),
        (["seed=4294967296"], f"Invalid seed=4294967296: expected an integer in [0, {MAX_SEED}]."),
        (
            ["model.kernel_initializer=stft"],
            "Invalid model.kernel_initializer='stft': expected an initializer that can fill a 2-D",
        ),
        (
            ["model.bias_initializer=orthogonal"],
            "Invalid model.bias_initializer='orthogonal': expected an initializer that can fill a 1-D",
        ),
        (
            ["model.depth=1000"],
            f"Invalid model.depth=1000: expected an integer in [0, {MAX_DEPTH}].",
        ),
        (
            ["mlflow.experiment_name="],
            "Invalid mlflow.experiment_name='': expected a non-empty name",
        ),
        (
            ["-m", "backend=jax,mxnet"],
            "Invalid backend='mxnet': expected one of tensorflow, jax, torch.",
        ),
        (
            ["trainer.jit_compile=sometimes"],
            "Invalid trainer.jit_compile='sometimes': expected auto, true or false.",
        ),
        (
            ["pair_timing.rounds=-1"],
            "Invalid pair_timing.rounds=-1: expected 0 (no paired timing) or an integer in "
            "[2, 1000].",
        ),
        (
            ["-m", "pair_timing.rounds=5,1"],
            "Invalid pair_timing.rounds=1: expected 0 (no paired timing) or an integer in",
        ),
        (
            ["pair_timing.rounds=5", "pair_timing.max_rounds=3"],
            "Invalid pair_timing.max_rounds=3: expected an integer in [5, 1000].",
        ),
        (["pair_timing.target=0"], "Invalid pair_timing.target=0.0: expected a fraction > 0"),
        (
            ["pair_timing.seconds_per_sample=0"],
            "Invalid pair_timing.seconds_per_sample=0.0: expected a number of seconds > 0",
        ),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_a_bad_command_line_is_refused_in_one_line(args, message):
    with pytest.raises(ConfigError) as raised:
        check_command_line(args, CONFIG_DIR)
    text = str(raised.value)
    assert text.startswith(message), text
    assert "\n" not in text


def test_non_ascii_values_are_refused_with_how_to_quote_them():
    with pytest.raises(ConfigError, match=r"quote values with spaces, commas or non-ASCII"):
        check_command_line(["model.activation=ré"], CONFIG_DIR)


def test_an_optuna_search_takes_a_database_storage_to_resume_from():
    config = check_command_line(
        ["-m", "hparams_search=optuna", "hydra.sweeper.storage=sqlite:///o.db"], CONFIG_DIR
    )
    assert config.hydra.sweeper.storage == "sqlite:///o.db"


@pytest.fixture(scope="module")
def config_dir_with_broken_presets(tmp_path_factory):
    """The project's config plus presets whose sweeper params hold a bad value."""
    folder = tmp_path_factory.mktemp("conf") / "conf"
    shutil.copytree(CONFIG_DIR, folder)
    for name, params in {
        "broken_type": "model.units: 32,abc",
        "broken_value": "model.activation: relu,swishy",
    }.items():
        (folder / "experiment" / f"{name}.yaml").write_text(
            f"# @package _global_\nhydra:\n  sweeper:\n    params:\n      {params}\n"
        )
    return folder


@pytest.mark.parametrize(
    ("preset", "message"),
    [
        ("broken_type", "Invalid model.units='abc': expected an integer."),
        ("broken_value", "Invalid model.activation='swishy': expected the name of a Keras"),
    ],
)
def test_a_bad_value_in_a_preset_s_sweeper_params_is_caught(
    config_dir_with_broken_presets, preset, message
):
    with pytest.raises(ConfigError) as raised:
        check_command_line(["-m", f"+experiment={preset}"], config_dir_with_broken_presets)
    assert str(raised.value).startswith(message)


def test_a_known_key_may_be_forced_and_returns_the_base_config_with_hydra():
    cfg = check_command_line(["dataset=synthetic", "++dataset.n_samples=100"], CONFIG_DIR)
    assert cfg.dataset.name == "synthetic" and cfg.dataset.n_samples == 100
    assert cfg.hydra.job.chdir is False
    assert cfg.hydra.callbacks.mlflow_sweep._target_.endswith("MlflowSweepCallback")


@pytest.mark.parametrize("args", [["+experiment=grid"], ["-m", "+experiment=grid"]])
def test_a_preset_is_accepted_with_every_value_of_its_sweep(args):
    cfg = check_command_line(args, CONFIG_DIR)
    assert cfg.device.name == "cpu"
    assert set(cfg.hydra.sweeper.params) == {
        "layer",
        "model.units",
        "model.activation",
        "model.kernel_initializer",
    }


def test_the_defaults_are_in_the_yaml_and_typed_by_the_schema():
    cfg = compose_config()
    assert (cfg.layer.name, cfg.layer.dense_class) == ("custom", "custom_dense.CustomDense")
    assert cfg.model._target_ == "custom_dense_lab.training.models.build_mlp"
    assert cfg.optimizer._target_ == "keras.optimizers.Adam"
    assert compose_config("optimizer=sgd").optimizer._target_ == "keras.optimizers.SGD"
    assert compose_config("layer=stock").layer.dense_class == "keras.layers.Dense"
    assert cfg.trainer.precision.name == "float32" and cfg.trainer.verbose.name == "auto"
    assert (cfg.model.units, cfg.model.depth, cfg.seed) == (64, 2, 0)
    assert (cfg.backend.name, cfg.trainer.jit_compile) == ("tensorflow", "auto")
    # `true` on the command line is a boolean to Hydra; the key takes it as the word.
    assert compose_config("trainer.jit_compile=true").trainer.jit_compile == "True"
    check_command_line(["-m", "trainer.jit_compile=auto,true,false,False"], CONFIG_DIR)
    assert cfg.pair_timing.rounds >= 2 and 0 < cfg.pair_timing.target < 1
    # Hydra ends its callbacks in reverse order: the pairs are timed before the report.
    callbacks = compose_config(with_hydra=True).hydra.callbacks
    assert list(callbacks) == ["mlflow_sweep", "paired_timing"]


def test_the_slurm_presets_are_slurm_launchers_with_their_settings():
    launcher = compose_config(
        "hydra/launcher=slurm", "hydra.launcher.partition=gpu", with_hydra=True
    ).hydra.launcher
    assert launcher._target_.endswith(".SlurmLauncher")
    assert launcher.partition == "gpu"
    assert launcher.gpus_per_node == 0
    gpu = compose_config("hydra/launcher=slurm_gpu", with_hydra=True).hydra.launcher
    assert gpu._target_ == launcher._target_
    assert gpu.gpus_per_node == 1 and gpu.cpus_per_task >= launcher.cpus_per_task


def test_the_optuna_preset_searches_the_issue_s_space_for_the_highest_val_accuracy():
    sweeper = compose_config("hparams_search=optuna", with_hydra=True).hydra.sweeper
    assert sweeper._target_.endswith("optuna_sweeper.OptunaSweeper")
    assert sweeper.direction == "maximize"
    assert set(sweeper.params) == {
        "model.units",
        "model.depth",
        "model.activation",
        "model.kernel_initializer",
        "optimizer.learning_rate",
    }


def test_a_users_config_folder_adds_its_options_to_the_shipped_ones(tmp_path):
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "mine.yaml").write_text("# @package _global_\nmodel:\n  units: 7\n")
    args = ["--config-dir", str(tmp_path), "+experiment=mine", "trainer.epochs=3"]
    cfg = check_command_line(args, CONFIG_DIR)
    assert (cfg.model.units, cfg.trainer.epochs) == (7, 3)
    with pytest.raises(ConfigError, match=r"^Invalid experiment='theirs': expected one of "):
        check_command_line(["-cd", str(tmp_path), "+experiment=theirs"], CONFIG_DIR)
    missing = tmp_path / "nowhere"
    with pytest.raises(ConfigError, match=r"^Invalid --config-dir='.*nowhere': expected an"):
        check_command_line([f"--config-dir={missing}"], CONFIG_DIR)


def test_a_key_given_twice_takes_the_last_value_as_hydra_does():
    cfg = check_command_line(["model.units=16", "trainer.epochs=2", "model.units=32"], CONFIG_DIR)
    assert (cfg.model.units, cfg.trainer.epochs) == (32, 2)
    cfg = check_command_line(["model.units=abc", "model.units=8"], CONFIG_DIR)
    assert cfg.model.units == 8
    with pytest.raises(ConfigError, match=r"^Invalid model\.units='abc'"):
        check_command_line(["model.units=8", "model.units=abc"], CONFIG_DIR)
    cfg = check_command_line(["-m", "layer=custom", "layer=stock"], CONFIG_DIR)
    assert cfg.layer.name == "stock"


def test_a_key_every_swept_group_option_has_is_checked_with_those_options_not_the_default(
    tmp_path,
):
    datasets = tmp_path / "dataset"
    datasets.mkdir()
    (datasets / "small.yaml").write_text("defaults:\n  - synthetic\n  - _self_\n\nn_samples: 64\n")
    args = ["-cd", str(tmp_path), "-m", "dataset=synthetic,small", "dataset.n_samples=128"]

    cfg = check_command_line(args, CONFIG_DIR)

    assert cfg.dataset.name == "synthetic" and cfg.dataset.n_samples == 128


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["~model.units"], r"^Invalid model\.units='~model\.units': expected a value: every key"),
        (
            ["~trainer", "trainer.epochs=1"],
            r"^Invalid trainer='~trainer': expected a value: every key of the config is required "
            r"\(an optional group may go\)\.$",
        ),
        (["~model.units=64"], r"^Invalid model\.units='64': expected a value: every key"),
        (["~layer"], r"^Invalid layer='~layer': expected a value: every key of the config is"),
        (
            ["+model.units=3"],
            r"^Invalid override='\+model\.units=3': expected overrides Hydra can apply \(Could "
            r"not append to config\. An item is already at 'model\.units'\. Either remove \+",
        ),
        (["+layer=stock"], r"^Invalid override='\+layer=stock': .* \(Multiple values for layer\."),
        (["++x=1"], r"^Invalid x='1': expected a key of the config; its top-level keys are "),
        (["+newkey=1"], r"^Invalid newkey='1': expected a key of the config; its top-level keys"),
        (
            ["-m", "hydra/launcher=slurm", "hydra.launcher.timeout_min=-1"],
            r"^Invalid hydra\.launcher\.timeout_min=-1: expected an integer >= 1\.$",
        ),
        (
            ["-m", "hydra/launcher=slurm", "hydra.launcher.cpus_per_task=0"],
            r"^Invalid hydra\.launcher\.cpus_per_task=0: expected an integer >= 1\.$",
        ),
        (
            ["-m", "hydra/launcher=slurm", "hydra.launcher.partition=[1,2]"],
            r"^Invalid hydra\.launcher\.partition='\[1,2\]': expected a string or null\.$",
        ),
        (
            ["-m", "hydra/launcher=submitit_local", "hydra.launcher.gpus_per_node=-1"],
            r"^Invalid hydra\.launcher\.gpus_per_node=-1: expected an integer >= 0\.$",
        ),
        (["model.units=16,32"], r"^Invalid model\.units='16,32': expected one value \(-m sweeps"),
        (
            ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=0"],
            r"^Invalid hydra\.launcher\.n_jobs=0: expected a number of worker processes",
        ),
    ],
)
def test_removing_or_adding_a_key_a_launcher_size_or_a_sweep_without_m_is_one_line(args, message):
    with pytest.raises(ConfigError, match=message):
        check_command_line(args, CONFIG_DIR)


def test_an_optional_group_may_still_be_removed():
    assert check_command_line(["~hparams_search"], CONFIG_DIR).model.units == 64


@pytest.mark.parametrize(
    ("path", "text", "args", "where"),
    [
        ("experiment/mine.yaml", "model:\n  units: 3\n  depth: : 2\n", ["+experiment=mine"], 3),
        ("dataset/mine.yaml", "name: [digits\n", ["dataset=mine"], 2),
    ],
)
def test_a_config_file_that_does_not_parse_is_named_with_its_line(
    tmp_path, path, text, args, where
):
    (tmp_path / path).parent.mkdir()
    (tmp_path / path).write_text(text)
    with pytest.raises(ConfigError) as raised:
        check_command_line(["-cd", str(tmp_path), *args], CONFIG_DIR)
    assert str(raised.value).startswith(
        f"Invalid config='{tmp_path / path}': expected a YAML file (line {where}, column "
    )
