"""Sweep bookkeeping in this process: the parent's id, closing a sweep, presets, the store."""

import http.server
import os
import subprocess
import sys
import threading

import mlflow
import pytest
from conftest import compose_config
from omegaconf import OmegaConf

from custom_dense import sweep, tracking
from custom_dense.errors import ConfigError, TrackingServerUnreachableError
from custom_dense.overrides import check_overrides, split_mlproject_args
from custom_dense.train import CONFIG_DIR


def test_the_parent_id_file_of_the_sweep_folder_wins_over_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(sweep.PARENT_RUN_ENV, "from-env")
    assert sweep.parent_run_id(tmp_path) == "from-env"
    (tmp_path / sweep.PARENT_ID_FILE).write_text("from-file\n")
    assert sweep.parent_run_id(tmp_path) == "from-file"
    monkeypatch.delenv(sweep.PARENT_RUN_ENV)
    assert sweep.parent_run_id(tmp_path / "elsewhere") is None


def test_closing_a_sweep_fails_runs_whose_process_died_and_records_the_best(
    tracking_uri, monkeypatch
):
    client = mlflow.MlflowClient()
    experiment_id = mlflow.set_experiment("custom-dense").experiment_id
    parent = client.create_run(experiment_id).info.run_id
    for accuracy in (0.5, 0.75):
        with mlflow.start_run(experiment_id=experiment_id, parent_run_id=parent) as run:
            mlflow.log_metric("val_accuracy", accuracy)
            mlflow.log_text("seed: 0\n", "config.yaml")
        best = run.info.run_id
    orphan = client.create_run(experiment_id, tags={"mlflow.parentRunId": parent}).info.run_id
    monkeypatch.setenv(sweep.PARENT_RUN_ENV, parent)

    sweep.finish_sweep()

    assert client.get_run(orphan).info.status == "FAILED"
    assert "ended before its run did" in client.get_run(orphan).data.tags["failure_reason"]
    closed = client.get_run(parent)
    assert closed.info.status == "FAILED"
    assert closed.data.tags["failure_reason"].startswith("1 of 3 jobs failed")
    assert closed.data.metrics["best_val_accuracy"] == 0.75
    assert closed.data.tags["best_run_id"] == best
    assert sweep.PARENT_RUN_ENV not in os.environ


def test_a_multirun_flag_may_stand_anywhere_among_the_overrides():
    assert split_mlproject_args(["hparams_search=optuna", "-m", "seed=1"]) == [
        "-m",
        "hparams_search=optuna",
        "seed=1",
    ]
    assert split_mlproject_args(["--overrides", "a=1 --multirun b=2"]) == [
        "--multirun",
        "a=1",
        "b=2",
    ]


def test_an_optuna_database_storage_is_refused_in_one_line():
    with pytest.raises(ConfigError, match=r"Invalid hydra.sweeper.storage='sqlite:///o.db'"):
        check_overrides(
            ["hparams_search=optuna", "hydra.sweeper.storage=sqlite:///o.db"], CONFIG_DIR
        )


def test_the_slurm_preset_is_submitit_slurm_with_its_settings():
    launcher = compose_config(
        "hydra/launcher=slurm", "hydra.launcher.partition=gpu", with_hydra=True
    ).hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert launcher.partition == "gpu"
    assert (launcher.gpus_per_node, launcher.cpus_per_task, launcher.timeout_min) == (1, 8, 60)


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


class _NotMlflow(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_an_http_server_that_is_not_mlflow_is_refused():
    server = http.server.HTTPServer(("127.0.0.1", 0), _NotMlflow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    uri = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(TrackingServerUnreachableError, match="answered HTTP 404"):
            tracking.check_tracking_server(OmegaConf.create({"tracking_uri": uri}))
    finally:
        server.shutdown()


@pytest.mark.slow
def test_processes_opening_a_new_sqlite_store_at_once_all_succeed(tmp_path):
    code = f"""
import mlflow
from omegaconf import OmegaConf
from custom_dense import tracking
cfg = OmegaConf.create({{"tracking_uri": "sqlite:///{tmp_path}/new.db", "experiment_name": "x"}})
with mlflow.start_run(experiment_id=tracking.configure_tracking(cfg)):
    mlflow.log_metric("m", 1.0)
"""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code], cwd=tmp_path, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr[-3000:]
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/new.db")
    try:
        assert len(mlflow.search_runs(experiment_names=["x"], output_format="list")) == 4
    finally:
        mlflow.set_tracking_uri(None)
