"""The sweep benchmark's sums over jobs and its custom/stock pairs."""

import pytest

from custom_dense.lab.benchmark.sweeps import job_figures, pair_deltas, scenarios


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
