"""`python -m custom_dense_lab.bench`: the table and the bench run in MLflow (bad flags:
tests/lab/cli)."""

import csv

import mlflow
import pytest
from helpers import run_module, sqlite_uri

pytestmark = pytest.mark.slow


def test_the_bench_command_prints_the_table_and_logs_a_bench_run(tmp_path):
    uri = sqlite_uri(tmp_path)
    result = run_module(
        "custom_dense_lab.bench",
        *("--units", "32", "--depth", "1", "--batch-size", "32", "--rounds", "3"),
        *("--seconds-per-sample", "0.02", "--output-dir", str(tmp_path / "out")),
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": uri},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "train ratio [95% interval]" in result.stdout
    assert "It is not the quotient of the two median times" in result.stdout
    assert "u32_d1_b32" in result.stdout and "784-32-10" in result.stdout
    assert "oneDNN" not in result.stderr
    mlflow.set_tracking_uri(uri)
    (run,) = mlflow.search_runs(
        experiment_names=["custom-dense"],
        filter_string="tags.kind = 'bench'",
        output_format="list",
    )
    artifacts = {f.path for f in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert run.info.status == "FINISHED"
    assert {"bench.csv", "bench.png", "bench.txt"} <= artifacts
    assert run.data.metrics["u32_d1_b32.train_step_ratio"] > 0
    assert run.data.metrics["u32_d1_b32.train_peak_fraction_custom"] > 0
    assert run.data.metrics["matmul_peak_gflops"] > 0
    with (tmp_path / "out" / "bench.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["config"] for row in rows] == ["u32_d1_b32"]
