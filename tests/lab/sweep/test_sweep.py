"""Sweep bookkeeping in this process: the parent's id, the callback, closing a sweep, finding one.

Sweeps run by Hydra, in this and in other processes: tests/e2e.
"""

import json
import os
import time

import mlflow
import pytest
import tensorflow as tf
from helpers import compose_config, import_cli, runs_of, sqlite_uri, using_store

from custom_dense_lab.benchmark import timing as sweep_pairs
from custom_dense_lab.benchmark.sweep_callback import PairedTimingCallback
from custom_dense_lab.errors import SweepNotFoundError
from custom_dense_lab.reports import paired
from custom_dense_lab.sweep import parent
from custom_dense_lab.sweep.callback import MlflowSweepCallback, finish_sweep
from custom_dense_lab.tracking import ui

run_job = import_cli("custom_dense_lab.training.task").run_job


def test_the_environment_wins_over_the_parent_id_file_of_the_sweep_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(parent.PARENT_RUN_ENV, raising=False)
    assert parent.parent_run_id(tmp_path) is None
    (tmp_path / parent.PARENT_ID_FILE).write_text("from-file\n")
    assert parent.parent_run_id(tmp_path) == "from-file"
    monkeypatch.setenv(parent.PARENT_RUN_ENV, "from-env")
    assert parent.parent_run_id(tmp_path) == "from-env"
    assert parent.parent_run_id(tmp_path / "elsewhere") == "from-env"


def test_closing_a_sweep_fails_runs_whose_process_died_and_records_the_best(tracking, monkeypatch):
    client = mlflow.MlflowClient()
    experiment_id = mlflow.set_experiment(tracking.experiment).experiment_id
    parent_id = client.create_run(experiment_id).info.run_id
    for accuracy in (0.5, 0.75):
        with mlflow.start_run(experiment_id=experiment_id, parent_run_id=parent_id) as run:
            mlflow.log_metric("val_accuracy", accuracy)
            mlflow.log_text("seed: 0\n", "config.yaml")
        best = run.info.run_id
    orphan = client.create_run(
        experiment_id, tags={"mlflow.parentRunId": parent_id}, run_name="the orphan"
    ).info.run_id
    monkeypatch.setenv(parent.PARENT_RUN_ENV, parent_id)

    assert finish_sweep() == ["the orphan"]

    assert client.get_run(orphan).info.status == "FAILED"
    assert "ended before its run did" in client.get_run(orphan).data.tags["failure_reason"]
    closed = client.get_run(parent_id)
    assert closed.info.status == "FAILED"
    assert closed.data.tags["failure_reason"].startswith("1 of 3 jobs")
    assert "the orphan" in closed.data.tags["failure_reason"]
    assert closed.data.metrics["best_val_accuracy"] == 0.75
    assert closed.data.tags["best_run_id"] == best
    assert parent.PARENT_RUN_ENV not in os.environ


def test_closing_when_no_sweep_is_open_does_nothing(monkeypatch):
    monkeypatch.delenv(parent.PARENT_RUN_ENV, raising=False)
    assert finish_sweep() == []


def test_the_callback_nests_jobs_under_a_parent_and_exits_1_naming_failed_jobs(
    tracking, tmp_path, capsys
):
    """The callback's two hooks around jobs run in this process, as Hydra's basic launcher does."""
    sweep_dir = tmp_path / "multirun" / "sweep"
    experiment = f"mlflow.experiment_name={tracking.experiment}"
    config = compose_config(f"hydra.sweep.dir={sweep_dir}", experiment, with_hydra=True)
    callback = MlflowSweepCallback()

    callback.on_multirun_start(config)
    parent_id = os.environ[parent.PARENT_RUN_ENV]
    assert (sweep_dir / parent.PARENT_ID_FILE).read_text().strip() == parent_id
    assert parent.parent_run_id(sweep_dir) == parent_id
    for units in ("8", "0"):
        job_overrides = [f"model.units={units}", "trainer.epochs=1", "mlflow.log_model=false"]
        job_config = compose_config(*job_overrides, experiment)
        run_job(job_config, job_overrides, in_sweep=True, parent_run_id=parent_id)
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        callback.on_multirun_end(config)

    assert stopped.value.code == 1
    assert "1 job(s) failed: model.units=0 trainer.epochs=1" in capsys.readouterr().err
    closed = mlflow.get_run(parent_id)
    assert closed.info.status == "FAILED"
    assert closed.data.tags[parent.SWEEP_TAG] == "true"
    statuses = {run.data.params["model.units"]: run.info.status for run in runs_of(parent_id)}
    assert statuses == {"8": "FINISHED", "0": "FAILED"}
    assert parent.PARENT_RUN_ENV not in os.environ


def test_find_sweep_takes_the_latest_sweep_or_says_there_is_none(tracking):
    with pytest.raises(SweepNotFoundError, match=r"^no sweep found in experiment 'nope'$"):
        parent.find_sweep("nope")
    client = mlflow.MlflowClient()
    experiment_id = mlflow.set_experiment(tracking.experiment).experiment_id
    for _ in range(2):
        time.sleep(0.01)  # start times are in milliseconds
        latest = client.create_run(experiment_id, tags={parent.SWEEP_TAG: "true"}).info.run_id
    assert parent.find_sweep(tracking.experiment) == latest
    assert parent.find_sweep("anything", parent=latest) == latest


def sweep_of_one_pair(tracking, tmp_path, *overrides):
    """Opens a sweep through the callback and runs a custom and a stock job in it, for real."""
    experiment = f"mlflow.experiment_name={tracking.experiment}"
    sweep_dir = f"hydra.sweep.dir={tmp_path / 'multirun' / 'sweep'}"
    config = compose_config(sweep_dir, experiment, *overrides, with_hydra=True)
    callback = MlflowSweepCallback()
    callback.on_multirun_start(config)
    parent_id = os.environ[parent.PARENT_RUN_ENV]
    jobs = {}
    for layer in ("custom", "stock"):
        job_overrides = [
            f"layer={layer}",
            "model.units=8",
            "trainer.epochs=1",
            "mlflow.log_model=false",
        ]
        job_config = compose_config(*job_overrides, experiment, *overrides)
        run_job(job_config, job_overrides, in_sweep=True, parent_run_id=parent_id)
        jobs[layer] = mlflow.last_active_run().info.run_id
    return callback, config, parent_id, jobs


def end_sweep(callback, config):
    """Ends the sweep as Hydra does: its callbacks in reverse order, the timing first."""
    PairedTimingCallback().on_multirun_end(config)
    callback.on_multirun_end(config)


@pytest.mark.slow  # a sweep, with its pairs timed
def test_the_sweep_times_its_pairs_in_turns_from_its_jobs_models_and_reports_the_ratio(
    tracking, tmp_path, capsys, monkeypatch
):
    rounds = (
        "pair_timing.rounds=3",
        "pair_timing.max_rounds=3",
        "pair_timing.seconds_per_sample=0.01",
    )
    callback, config, parent_id, jobs = sweep_of_one_pair(tracking, tmp_path, *rounds)
    jobs_before = {layer: mlflow.get_run(run).data.metrics for layer, run in jobs.items()}
    # The jobs' models are still in this process: the pair is timed from them, not rebuilt.
    monkeypatch.setattr(sweep_pairs, "job_model", None)
    end_sweep(callback, config)

    out = capsys.readouterr().out
    assert "paired timing 1/1 [pair]: custom / stock step time " in out
    assert "paired timing: 3 rounds of 1 pairs in " in out
    document = json.loads(mlflow.artifacts.load_text(f"runs:/{parent_id}/{paired.TIMINGS_JSON}"))
    assert (document["rounds"], document["max_rounds"]) == (3, 3)
    assert document["wall_s"] > 0
    (entry,) = document["pairs"]
    assert (entry["run_id_custom"], entry["run_id_stock"]) == (jobs["custom"], jobs["stock"])
    for measure in ("train_step", "infer_single"):
        for layer in ("custom", "stock"):
            seconds = entry["seconds"][measure][layer]
            assert len(seconds) == 3 and all(0 < s < 1 for s in seconds)
    closed = mlflow.get_run(parent_id)
    assert closed.info.status == "FINISHED"
    assert closed.data.metrics["timed_pair_count"] == 1
    assert 0.2 < closed.data.metrics["median_step_time_ratio"] < 5
    assert "timed in turns" in closed.data.tags[ui.NOTE_TAG]
    # What each job saw stays in its run.
    assert {layer: mlflow.get_run(run).data.metrics for layer, run in jobs.items()} == jobs_before


@pytest.mark.slow  # a sweep, with its pairs timed
@pytest.mark.parametrize(("target", "expected_rounds"), [("0.99", 2), ("0.000001", 6)])
def test_the_paired_timing_adds_rounds_until_the_interval_is_within_the_target(
    tracking, tmp_path, target, expected_rounds
):
    settings = (
        "pair_timing.rounds=2",
        "pair_timing.max_rounds=6",
        f"pair_timing.target={target}",
        "pair_timing.seconds_per_sample=0.005",
    )
    callback, config, parent_id, _ = sweep_of_one_pair(tracking, tmp_path, *settings)
    end_sweep(callback, config)
    document = json.loads(mlflow.artifacts.load_text(f"runs:/{parent_id}/{paired.TIMINGS_JSON}"))
    assert document["rounds"] == expected_rounds
    (entry,) = document["pairs"]
    assert len(entry["seconds"]["train_step"]["custom"]) == expected_rounds


@pytest.mark.slow  # a sweep, with its pairs timed
@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="a GPU is visible")
def test_a_pair_that_cannot_be_timed_here_is_reported_with_the_reason(tracking, tmp_path, capsys):
    rounds = ("pair_timing.rounds=2", "pair_timing.max_rounds=2")
    callback, config, parent_id, jobs = sweep_of_one_pair(tracking, tmp_path, *rounds)
    sweep_pairs.kept.clear()  # as where the jobs ran in other processes
    mlflow.MlflowClient().set_tag(jobs["custom"], "device", "gpu")  # as a GPU job records it
    end_sweep(callback, config)

    out = capsys.readouterr().out
    assert "paired timing 1/1 [pair]: not timed here (ConfigError: " in out
    assert "the report shows its jobs' own figures" in out
    (entry,) = paired.load_document(parent_id)["pairs"]
    assert "no GPU is visible here" in entry["not_timed"]
    closed = mlflow.get_run(parent_id)
    assert closed.info.status == "FINISHED"
    assert "median_step_time_ratio" not in closed.data.metrics
    note = closed.data.tags[ui.NOTE_TAG]
    assert f"- Speed not timed in pairs ({entry['not_timed']})" in note


@pytest.mark.slow  # a sweep, with its pairs timed
def test_no_rounds_no_paired_timing(tracking, tmp_path):
    callback, config, parent_id, _ = sweep_of_one_pair(tracking, tmp_path, "pair_timing.rounds=0")
    end_sweep(callback, config)
    assert paired.load_document(parent_id) == {}
    assert "speed not timed in pairs" in mlflow.get_run(parent_id).data.tags[ui.NOTE_TAG]


def test_find_sweep_without_an_experiment_takes_the_latest_sweep_of_the_store(tmp_path):
    with using_store(sqlite_uri(tmp_path), tmp_path):
        with pytest.raises(SweepNotFoundError, match=r"^no sweep found in this tracking store$"):
            parent.find_sweep(None)
        client = mlflow.MlflowClient()
        for name in ("first", "second"):
            time.sleep(0.01)  # start times are in milliseconds
            experiment_id = client.create_experiment(name)
            latest = client.create_run(experiment_id, tags={parent.SWEEP_TAG: "true"}).info.run_id
        assert parent.find_sweep(None) == latest
