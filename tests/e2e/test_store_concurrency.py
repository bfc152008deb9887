"""Processes that open one new SQLite store at once all get it, intact."""

import subprocess
import sys

import mlflow
import pytest
from helpers import runs_in, sqlite_uri

pytestmark = pytest.mark.slow


def test_processes_opening_a_new_sqlite_store_at_once_all_succeed(tmp_path):
    code = f"""
import mlflow
from custom_dense_lab.tracking import store
store.use_store({sqlite_uri(tmp_path)!r})
with mlflow.start_run(experiment_id=store.open_experiment("x")):
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
    mlflow.set_tracking_uri(sqlite_uri(tmp_path))
    assert len(runs_in("x")) == 4
