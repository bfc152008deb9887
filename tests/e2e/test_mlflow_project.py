"""`mlflow run` of the project: its entry points as MLflow starts them.

MLflow starts an entry point in the project's folder, where Hydra writes
`multirun/` and `outputs/`: each test runs a copy of the project, so that the
checkout stays as it was. `mlflow run .` as users first type it runs once, and
`-e compare` rebuilds its report; `-P overrides=` runs one job (a sweep is the
default run's `-m`).
"""

import subprocess

import mlflow
import pytest
from helpers import copy_project, runs_of, sqlite_uri, venv_env, venv_program

pytestmark = pytest.mark.slow
# The tests of the module's one `mlflow run .` (`default_run`) run in one worker under xdist.
SHARES_THE_DEFAULT_RUN = pytest.mark.xdist_group("default_run")


@pytest.fixture
def project_copy(tmp_path):
    """A fresh copy of the project for one `mlflow run`, beside its store in tmp_path."""
    return copy_project(tmp_path / "custom-dense")


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """`mlflow run .` with no parameters: the project's folder, the store's folder, the result."""
    folder = tmp_path_factory.mktemp("default")
    project = copy_project(folder / "custom-dense")
    return project, folder, mlflow_run(project, folder)


def mlflow_run(project, cwd, *args):
    env = venv_env(MLFLOW_TRACKING_URI=sqlite_uri(cwd))
    return subprocess.run(
        [venv_program("mlflow"), "run", str(project), "--env-manager", "local",
         "--experiment-name", "project", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@SHARES_THE_DEFAULT_RUN
def test_mlflow_run_dot_sweeps_custom_and_stock_under_the_project_run(default_run):
    _, folder, result = default_run
    assert result.returncode == 0, result.stderr[-3000:]
    project_run = _the_project_sweep(folder, {"custom", "stock"})
    assert project_run.data.metrics["max_abs_test_accuracy_delta"] == 0.0


def test_mlflow_run_dot_runs_one_job_with_the_overrides_given(project_copy, tmp_path):
    result = mlflow_run(project_copy, tmp_path, "-P", "overrides=trainer.epochs=2")
    assert result.returncode == 0, result.stderr[-3000:]
    mlflow.set_tracking_uri(sqlite_uri(tmp_path))
    (project_run,) = mlflow.search_runs(experiment_names=["project"], output_format="list")
    assert project_run.info.status == "FINISHED"
    assert project_run.data.tags["layer_impl"] == "custom"
    assert project_run.data.params["trainer.epochs"] == "2"
    assert 0.0 < project_run.data.metrics["test_accuracy"] <= 1.0


def _the_project_sweep(folder, layers):
    """The store's one sweep run, which `mlflow run` opened: two jobs, of `layers`, and a report."""
    mlflow.set_tracking_uri(sqlite_uri(folder))
    (project_run,) = mlflow.search_runs(
        experiment_names=["project"],
        filter_string="tags.`custom_dense.sweep` = 'true'",
        output_format="list",
    )
    assert project_run.info.status == "FINISHED"
    assert project_run.data.tags.get("mlflow.project.entryPoint") == "main"
    children = runs_of(project_run.info.run_id)
    assert {c.data.tags["layer_impl"] for c in children} == layers
    assert len(children) == 2
    assert all(c.info.experiment_id == project_run.info.experiment_id for c in children)
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(project_run.info.run_id)}
    assert "comparison.md" in artifacts
    return project_run


def test_mlflow_run_dot_bench_logs_the_benchmark_on_the_project_run(project_copy, tmp_path):
    flags = "--units 16 --depth 1 --batch-size 32 --rounds 3 --seconds-per-sample 0.02"
    result = mlflow_run(project_copy, tmp_path, "-e", "bench", "-P", f"flags={flags}")
    assert result.returncode == 0, result.stderr[-3000:]
    mlflow.set_tracking_uri(sqlite_uri(tmp_path))
    (run,) = mlflow.search_runs(experiment_names=["project"], output_format="list")
    assert run.data.tags["mlflow.project.entryPoint"] == "bench"
    assert run.data.tags["kind"] == "bench"
    assert run.data.params["rounds"] == "3"
    assert run.data.metrics["u16_d1_b32.train_step_ratio"] > 0


@SHARES_THE_DEFAULT_RUN
def test_mlflow_run_dot_compare_records_the_report_on_its_own_run_not_an_empty_one(default_run):
    project, folder, sweep = default_run
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    parent = _the_project_sweep(folder, {"custom", "stock"})

    result = mlflow_run(project, folder, "-e", "compare")  # the store's latest sweep

    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = mlflow.search_runs(
        experiment_names=["project"],
        filter_string="tags.`mlflow.project.entryPoint` = 'compare'",
        output_format="list",
    )
    assert run.info.status == "FINISHED"
    assert run.info.run_name == f"comparison · {parent.info.run_name}"
    assert run.data.tags["kind"] == "comparison"
    assert run.data.tags["compared_sweep"] == parent.info.run_id
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert artifacts == {"comparison.md"}
