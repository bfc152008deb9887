"""Run names: a sweep by what it varies, a job by its values; pure, no MLflow."""

import itertools
import time

from custom_dense_lab.tracking import names

# The README's 16-job grid, as `conf/experiment/grid.yaml` gives it to the sweeper.
GRID = {
    "layer": "custom,stock",
    "model.units": "32,128",
    "model.activation": "relu,tanh",
    "model.kernel_initializer": "glorot_uniform,he_normal",
}
OPTUNA = {
    "model.units": "choice(16, 32, 64, 128, 256)",
    "model.depth": "int(interval(1, 3))",
    "model.activation": "choice(relu, tanh, gelu, sigmoid)",
    "optimizer.learning_rate": "tag(log, interval(0.0001, 0.03))",
}
STARTED = time.mktime((2026, 11, 25, 18, 48, 0, 0, 0, -1))


def test_a_sweep_is_named_after_what_it_varies_layer_first():
    swept = names.swept_values(["model.units=32,128", "layer=custom,stock", "trainer.epochs=3"])
    assert swept == {"layer": ["custom", "stock"], "model.units": ["32", "128"]}
    assert names.sweep_name(swept, STARTED) == "11-25 18:48 · custom vs stock · units 32,128"


def test_a_presets_grid_and_an_optuna_search_name_their_keys():
    grid = names.swept_values(["+experiment=grid"], GRID)
    assert names.sweep_name(grid, STARTED) == (
        "11-25 18:48 · custom vs stock · units 32,128 · act relu,tanh · init glorotU,heN"
    )
    search = names.swept_values(["layer=stock", "hydra.sweeper.n_trials=5"], OPTUNA)
    assert search["model.depth"] is None and search["optimizer.learning_rate"] is None
    assert names.sweep_name(search, STARTED) == (
        "11-25 18:48 · units 16,32,64,128,…(+1) · depth searched · act relu,tanh,gelu,sigmoid"
        " · lr searched"
    )


def test_the_command_line_wins_over_the_sweepers_params_and_quiet_keys_are_left_out():
    swept = names.swept_values(
        ["model.units=8,16", "mlflow.log_model=true,false", "seed=range(0,3)"], GRID
    )
    assert swept["model.units"] == ["8", "16"] and swept["seed"] == ["0", "1", "2"]
    assert "mlflow.log_model" not in swept
    assert names.sweep_name({}, STARTED) == "11-25 18:48 · sweep"


def test_every_job_of_the_grid_has_a_short_distinct_name_of_its_swept_values():
    swept = names.swept_values(["+experiment=grid", "seed=0,1"], GRID)
    job_names = []
    for values in itertools.product(*swept.values()):
        overrides = ["+experiment=grid", *(f"{k}={v}" for k, v in zip(swept, values, strict=True))]
        job_names.append(names.job_name(names.job_values(overrides, swept)))
    assert len(set(job_names)) == len(job_names) == 32
    assert max(len(name) for name in job_names) <= names.MAX_JOB_NAME
    assert "custom s1 u128 tanh heN" in job_names and "stock s0 u32 relu glorotU" in job_names


def test_a_long_job_name_keeps_its_first_tokens_and_a_hash_that_keeps_it_distinct():
    base = {
        "model.units": "128",
        "model.depth": "3",
        "model.activation": "sigmoid",
        "model.kernel_initializer": "glorot_uniform",
    }
    first = names.job_name({**base, "optimizer.learning_rate": "0.00123"})
    second = names.job_name({**base, "optimizer.learning_rate": "0.00456"})
    assert first.startswith("u128 d3 sigmoid glorotU #") and len(first) <= names.MAX_JOB_NAME
    assert first != second


def test_job_values_keep_the_swept_keys_only_in_their_order():
    overrides = ["model.activation=tanh", "layer=stock", "trainer.epochs=3", "lr=0.0012345"]
    assert names.job_values(overrides, ["layer", "model.activation", "lr"]) == {
        "layer": "stock",
        "model.activation": "tanh",
        "lr": "0.00123",
    }


def single_job_name(layer, overrides):
    return names.job_name({"layer": layer} | names.job_values(overrides))


def test_a_single_job_is_named_by_its_layer_and_what_it_changes():
    assert single_job_name("custom", []) == "custom"
    overrides = ["layer=stock", "model.units=256", "trainer.epochs=30", "mlflow.log_model=false"]
    assert single_job_name("stock", overrides) == "stock u256 e30"
    long = single_job_name("custom", [f"model.kernel_initializer=x{'y' * 40}"])
    assert len(long) <= names.MAX_JOB_NAME and long.startswith("custom #")
    on_jax = ["backend=jax", "trainer.jit_compile=false", "pair_timing.rounds=3"]
    assert single_job_name("custom", on_jax) == "custom jax jit:false"


def test_a_job_of_a_backend_sweep_names_its_backend_and_compile_mode():
    values = {"backend": "tensorflow", "trainer.jit_compile": "True", "layer": "stock"}
    assert names.job_name(values) == "tf jit:True stock"


def test_repeated_names_are_numbered_in_order_within_the_length_limit():
    assert names.numbered(["custom", "custom", "stock", "custom"]) == [
        "custom",
        "custom #2",
        "stock",
        "custom #3",
    ]
    long = "x" * names.MAX_JOB_NAME
    assert names.numbered([long, long]) == [long, "x" * (names.MAX_JOB_NAME - 3) + " #2"]
