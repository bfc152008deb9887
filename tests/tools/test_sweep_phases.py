"""The sweep benchmark's sums over jobs and its custom/stock pairs."""

import math

import pytest
from sweep_phases import PHASES, job_figures, pair_deltas, phases, scenarios


def test_job_figures_sum_the_jobs_and_count_whole_batches_of_steps():
    job = {
        "fit_time_s": 2.0,
        "first_epoch_time_s": 0.5,
        "overhead_s": 0.25,
        "step_time_ms": 2.0,
        "epochs": 10,
        "train_size": 1293,
        "batch_size": 64,  # 21 steps an epoch, the last one short
    }
    figures = job_figures([job, job])
    assert figures == {
        "jobs": 2,
        "fit_s": 4.0,
        "first_epochs_s": 1.0,
        "overhead_s": 0.5,
        "steps_s": pytest.approx(2 * 10 * 21 * 2.0 / 1000),
    }


def test_phases_split_the_wall_time_at_the_first_run_start_and_the_last_run_end():
    jobs = [
        {"start_s": 104.0, "end_s": 106.0, "overhead_data_s": 0.25},
        {"start_s": 106.5, "end_s": 109.0, "overhead_data_s": 0.5},
    ]
    figures = phases(jobs, started_s=100.0, ended_s=110.0)
    assert figures["startup_s"] == 4.0
    assert figures["jobs_s"] == 5.0
    assert figures["runs_s"] == 4.5  # half a second between the runs
    assert figures["end_s"] == 1.0
    assert figures["overhead_data_s"] == 0.75
    assert math.isnan(figures["overhead_log_model_s"])  # no job logged it
    assert all(math.isnan(value) for value in phases([], 0.0, 1.0).values())
    assert set(figures) == set(PHASES)


def test_pair_deltas_pair_custom_with_the_stock_job_equal_in_all_else():
    def key(layer, units):
        return tuple(sorted({"layer.name": layer, "model.units": units}.items()))

    accuracies = {
        key("custom", "32"): 0.95,
        key("stock", "32"): 0.95,
        key("custom", "64"): 0.97,
        key("stock", "64"): 0.96,
        key("custom", "128"): 0.99,  # no stock twin
    }
    assert sorted(pair_deltas(accuracies)) == pytest.approx([0.0, 0.01])


def test_quick_scenarios_set_every_jobs_epochs():
    named = {s.name: s.args for s in scenarios(epochs=2)}
    assert list(named) == ["tf_import", "single", "grid", "sweep_in_process", "sweep_joblib_2"]
    for name in ("single", "grid", "sweep_in_process", "sweep_joblib_2"):
        assert "trainer.epochs=2" in named[name]
    assert "trainer.epochs=60" in {s.name: s.args for s in scenarios()}["sweep_joblib_2"]
    assert "hydra/launcher=joblib" in named["sweep_joblib_2"]


def test_overrides_reach_every_train_command_and_not_the_import():
    named = {s.name: s.args for s in scenarios(overrides=("mlflow.log_model=false",))}
    assert "mlflow.log_model=false" not in named["tf_import"]
    for name in ("single", "grid", "sweep_in_process", "sweep_joblib_2"):
        assert "mlflow.log_model=false" in named[name]
