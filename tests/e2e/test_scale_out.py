"""Sweeps beyond one process: joblib and submitit workers, a live tracking server, Optuna."""

import os
import re
import signal
import subprocess
import sys

import mlflow
import numpy as np
import pytest
from helpers import (
    FAST,
    free_port,
    run_module,
    runs_of,
    sqlite_uri,
    sweep_parents,
    wait_for_health,
)

from custom_dense_lab.ui import server_environment

pytestmark = pytest.mark.slow


def run_sweep(folder, *overrides, uri, timeout=600):
    return run_module(
        "custom_dense_lab.train",
        "-m",
        *overrides,
        cwd=folder,
        env={"MLFLOW_TRACKING_URI": uri},
        timeout=timeout,
    )


def the_sweep(uri):
    """The one sweep parent of the store and its children, by run id."""
    mlflow.set_tracking_uri(uri)
    (parent,) = sweep_parents()
    children = {run.info.run_id: run for run in runs_of(parent.info.run_id)}
    return parent, children


def test_joblib_workers_nest_every_job_under_one_parent_and_name_a_failed_one(tmp_path):
    uri = sqlite_uri(tmp_path)
    result = run_sweep(
        tmp_path,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "layer=custom,stock",
        "optimizer=sgd",
        "optimizer.learning_rate=0.01,1e30",
        *FAST,
        uri=uri,
    )
    assert result.returncode == 1, result.stderr[-3000:]
    assert "oneDNN" not in result.stderr and "[absl]" not in result.stderr
    (summary,) = [line for line in result.stderr.splitlines() if " job(s) failed: " in line]
    failed = re.findall(
        r"layer=(custom|stock) optimizer=sgd optimizer.learning_rate=1e\+?30 ", summary
    )
    assert summary.startswith("2 job(s) failed: ") and sorted(failed) == ["custom", "stock"]
    parent, children = the_sweep(uri)
    assert parent.info.status == "FAILED"
    assert parent.data.tags["failure_reason"].startswith("2 of 4 jobs")
    assert len(children) == 4
    by_job = {
        (run.data.tags["layer_impl"], float(run.data.params["optimizer.learning_rate"])): run
        for run in children.values()
    }
    for layer in ("custom", "stock"):
        assert by_job[layer, 0.01].info.status == "FINISHED"
        assert by_job[layer, 1e30].info.status == "FAILED"
        assert "NaN" in by_job[layer, 1e30].data.tags["failure_reason"]
    # The finished pair is still compared.
    assert parent.data.metrics["pair_count"] == 1.0
    assert parent.data.metrics["max_abs_test_accuracy_delta"] == 0.0


def test_submitit_local_runs_each_job_in_its_own_process(tmp_path):
    uri = sqlite_uri(tmp_path)
    result = run_sweep(
        tmp_path, "hydra/launcher=submitit_local", "layer=custom,stock", *FAST, uri=uri
    )
    assert result.returncode == 0, result.stderr[-3000:]
    parent, children = the_sweep(uri)
    assert parent.info.status == "FINISHED"
    assert {run.info.status for run in children.values()} == {"FINISHED"}
    assert len(children) == 2
    assert list(tmp_path.glob("multirun/*/*/.submitit/*/*_result.pkl"))


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory):
    """A real `mlflow server` on 127.0.0.1 with a SQLite backend and proxied artifacts."""
    folder = tmp_path_factory.mktemp("server")
    port = free_port()
    log = (folder / "server.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{folder / 'server.db'}",
            "--artifacts-destination",
            str(folder / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=folder,
        env=server_environment(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(uri, server, folder / "server.log")
        yield uri
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def test_a_sweep_against_a_live_tracking_server_logs_runs_and_models(
    tracking_server, tmp_path, monkeypatch
):
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    result = run_sweep(tmp_path, "layer=custom,stock", *FAST, uri=tracking_server)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (tmp_path / "mlflow.db").exists()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    parent, children = the_sweep(tracking_server)
    assert parent.info.status == "FINISHED"
    assert {run.info.status for run in children.values()} == {"FINISHED"}
    assert parent.data.metrics["max_abs_test_accuracy_delta"] == 0.0
    model = mlflow.pyfunc.load_model("models:/custom-dense-digits@champion")  # the registry's
    prediction = np.asarray(model.predict(np.zeros((2, 8, 8, 1), dtype="float32")))
    assert prediction.shape == (2, 10)
    np.testing.assert_allclose(prediction.sum(axis=1), 1.0, rtol=1e-5)


def test_an_unreachable_tracking_server_fails_at_once_with_one_line(tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"
    # MLflow's own retries would take minutes; the timeout proves the check answers first.
    result = run_sweep(tmp_path, "layer=custom,stock", *FAST, uri=uri, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: Invalid MLFLOW_TRACKING_URI='{uri}': expected a running MLflow tracking "
        "server (could not connect)."
    )


def test_optuna_search_nests_trials_and_records_the_best_on_the_parent(tmp_path):
    uri = sqlite_uri(tmp_path)
    result = run_sweep(
        tmp_path,
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=3",
        "trainer.epochs=2",
        "mlflow.log_model=false",
        uri=uri,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    parent, children = the_sweep(uri)
    assert parent.info.status == "FINISHED"
    assert len(children) == 3
    assert {run.info.status for run in children.values()} == {"FINISHED"}
    scores = {run.info.run_id: run.data.metrics["val_accuracy"] for run in children.values()}
    best_run_id = max(scores, key=scores.get)
    assert parent.data.metrics["best_val_accuracy"] == pytest.approx(scores[best_run_id])
    assert parent.data.tags["best_run_id"] == best_run_id
    best = children[best_run_id]
    # The best job by its run name or its overrides (a tag of the job's run).
    assert parent.data.tags["best_overrides"] in {best.info.run_name, *best.data.tags.values()}
    best_params = best.data.params
    searched = ("model.units", "model.depth", "model.activation", "optimizer.learning_rate")
    for key in searched:
        assert float_or_text(parent.data.params[f"best.{key}"]) == float_or_text(best_params[key])
    artifacts = {f.path for f in mlflow.MlflowClient().list_artifacts(parent.info.run_id)}
    assert {"optimization_results.yaml", "best_config.yaml"} <= artifacts


def float_or_text(value):
    try:
        return pytest.approx(float(value))
    except ValueError:
        return value


@pytest.mark.parametrize("module", ["custom_dense_lab.compare", "custom_dense_lab.bench"])
def test_report_and_bench_commands_fail_at_once_without_a_server(module, tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"
    result = run_module(module, "--tracking-uri", uri, cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: Invalid --tracking-uri='{uri}': expected a running MLflow tracking "
        "server (could not connect)."
    )
