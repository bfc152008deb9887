"""Sweep bookkeeping in this process: the parent's id, the callback, closing a sweep, finding one.

Sweeps run by Hydra, in this and in other processes: tests/e2e.
"""

import os
import time

import mlflow
import pytest
from helpers import compose_config, runs_of

from custom_dense_lab.errors import SweepNotFoundError
from custom_dense_lab.sweep import finish, parent
from custom_dense_lab.sweep.callback import MlflowSweepCallback
from custom_dense_lab.training.job import run_job


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

    assert finish.finish_sweep() == ["the orphan"]

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
    assert finish.finish_sweep() == []


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
