"""The sweep benchmark (tools/sweep_bench.py) on a tiny sweep: its table, CSV and kind=sweep-bench run."""

import csv
import subprocess
import sys

import mlflow
import pytest
from helpers import REPO_ROOT, sqlite_uri

pytestmark = pytest.mark.slow


def test_the_sweep_bench_measures_each_scenario_and_logs_a_run(tmp_path):
    uri = sqlite_uri(tmp_path)
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "sweep_bench.py"),
         *("--scenarios", "sweep_in_process", "--epochs", "1"),
         *("--override", "mlflow.log_model=false", "--override", "pair_timing.rounds=2"),
         *("--override", "pair_timing.seconds_per_sample=0.01"),
         *("--tracking-uri", uri, "--output-dir", str(tmp_path / "out"))],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "wall_per_step_s" in result.stdout
    with (tmp_path / "out" / "sweep_bench.csv").open() as handle:
        rows = {row["scenario"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {"sweep_in_process"} and rows["sweep_in_process"]["jobs"] == "8"
    assert rows["sweep_in_process"]["pairs"] == "4"
    assert rows["sweep_in_process"]["nonzero_pair_deltas"] == "0"
    assert float(rows["sweep_in_process"]["steps_s"]) > 0
    mlflow.set_tracking_uri(uri)
    (run,) = mlflow.search_runs(
        experiment_names=["custom-dense-bench"],
        filter_string="tags.kind = 'sweep-bench'",
        output_format="list",
    )
    assert run.data.metrics["current.sweep_in_process.jobs"] == 8
    assert run.data.metrics["current.sweep_in_process.wall_s"] > 0
    assert run.data.params["overrides"] == (
        "mlflow.log_model=false pair_timing.rounds=2 pair_timing.seconds_per_sample=0.01"
    )
