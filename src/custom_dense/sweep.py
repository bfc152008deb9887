"""Hydra callback that gives a multirun one MLflow parent run and its comparison report."""

import os
import pathlib
import time

import mlflow
import yaml
from hydra.experimental.callback import Callback

from custom_dense import report, tracking

SWEEP_TAG = "custom_dense.sweep"
PARENT_RUN_ENV = "CUSTOM_DENSE_PARENT_RUN_ID"
PARENT_ID_FILE = "mlflow_parent_run_id"
# What an Optuna sweep leaves in its sweep folder: the best trial's params and value.
OPTUNA_RESULTS_FILE = "optimization_results.yaml"
# Jobs of this process's last multirun (or single run) that failed, as `(run name, reason)`.
FAILED_JOBS = []
_ORPHAN_REASON = "the job's process ended before its run did (killed, or crashed)"


def parent_run_id(sweep_dir):
    """The id of the sweep's parent run, as every job of the sweep can find it.

    The sweep writes it to `<sweep dir>/mlflow_parent_run_id`, which jobs on
    any host of a shared file system can read, and exports it as
    `$CUSTOM_DENSE_PARENT_RUN_ID` to the worker processes it starts (joblib,
    submitit), for a sweep folder they cannot see.

    Args:
        sweep_dir: The sweep folder (`hydra.sweep.dir`).

    Returns:
        The run id, or `None` outside a sweep.
    """
    id_file = pathlib.Path(sweep_dir) / PARENT_ID_FILE
    if id_file.is_file():
        return id_file.read_text().strip()
    return os.environ.get(PARENT_RUN_ENV)


class MlflowSweepCallback(Callback):
    """Opens the sweep's parent run before the jobs and reports on it after them.

    The parent is the run `mlflow run` started, when there is one, else a new
    run. The tracking store, the experiment and the parent all exist before
    any job starts, so parallel jobs only add runs to them. At the end, the
    parent gets the comparison report and the best job, and is marked FAILED
    if any job failed.
    """

    def on_multirun_start(self, config, **kwargs):
        project_run = os.environ.pop("MLFLOW_RUN_ID", None)
        experiment_id = tracking.configure_tracking(config.mlflow, project_run)
        client = mlflow.MlflowClient()
        if project_run:
            parent = project_run
        else:
            run_name = f"sweep {time.strftime('%Y-%m-%d %H:%M:%S')}"
            parent = client.create_run(experiment_id, run_name=run_name).info.run_id
        client.set_tag(parent, SWEEP_TAG, "true")
        client.log_text(
            parent, "\n".join(config.hydra.overrides.task) + "\n", "sweep_overrides.txt"
        )
        os.environ[PARENT_RUN_ENV] = parent
        sweep_dir = pathlib.Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / PARENT_ID_FILE).write_text(parent + "\n")
        FAILED_JOBS.clear()
        print(f"MLflow parent run {parent} (experiment {experiment_id})", flush=True)

    def on_multirun_end(self, config, **kwargs):
        finish_sweep(pathlib.Path(config.hydra.sweep.dir))


def finish_sweep(sweep_dir=None, abort_reason=None):
    """Closes the open sweep's parent run: failures, report, best job, status.

    Runs still RUNNING belong to jobs whose process died: they are marked
    FAILED. Does nothing when no sweep is open in this process.

    Args:
        sweep_dir: The sweep folder, where an Optuna sweep leaves its result;
            `None` when the sweep stopped early.
        abort_reason: Why the sweep stopped before all its jobs returned, or
            `None` when it ran to the end.
    """
    parent = os.environ.pop(PARENT_RUN_ENV, None)
    if parent is None:
        return
    runs = report.child_runs(parent)
    if not runs.empty and (runs["status"] == "RUNNING").any():
        for run_id in runs.loc[runs["status"] == "RUNNING", "run_id"]:
            tracking.fail_run(run_id, _ORPHAN_REASON)
        runs = report.child_runs(parent)
    failed = runs[runs["status"] != "FINISHED"] if not runs.empty else runs
    FAILED_JOBS[:] = [
        (row.get("tags.mlflow.runName", row["run_id"]), row.get(f"tags.{tracking.FAILURE_TAG}"))
        for _, row in failed.iterrows()
    ]
    _, markdown = report.log_report(parent)
    print(markdown, flush=True)
    _log_best_job(parent, runs)
    if sweep_dir is not None:
        _log_optuna_result(parent, pathlib.Path(sweep_dir) / OPTUNA_RESULTS_FILE)
    problems = []
    if FAILED_JOBS:
        names = "; ".join(str(name) for name, _ in FAILED_JOBS)
        problems.append(f"{len(FAILED_JOBS)} of {len(runs)} jobs failed: {names}")
    if abort_reason:
        problems.append(abort_reason)
    if problems:
        tracking.fail_run(parent, ". ".join(problems))
    else:
        mlflow.MlflowClient().set_terminated(parent)
    print(
        f"MLflow parent run {parent}: {len(runs) - len(FAILED_JOBS)} of {len(runs)} jobs finished"
    )


def _log_best_job(parent, runs):
    """Logs the finished job with the highest final `val_accuracy` on the parent run.

    The parent gets the metric `best_val_accuracy`, the tags `best_run_id` and
    `best_overrides`, and the best job's resolved config as `best_config.yaml`.
    """
    if runs.empty or "metrics.val_accuracy" not in runs:
        return
    finished = runs[(runs["status"] == "FINISHED") & runs["metrics.val_accuracy"].notna()]
    if finished.empty:
        return
    best = finished.loc[finished["metrics.val_accuracy"].idxmax()]
    client = mlflow.MlflowClient()
    client.log_metric(parent, "best_val_accuracy", float(best["metrics.val_accuracy"]))
    client.set_tag(parent, "best_run_id", best["run_id"])
    client.set_tag(parent, "best_overrides", best.get("tags.mlflow.runName", ""))
    config_text = mlflow.artifacts.load_text(f"runs:/{best['run_id']}/config.yaml")
    client.log_text(parent, config_text, "best_config.yaml")


def _log_optuna_result(parent, results_file):
    """Logs an Optuna sweep's result file and its best params (`best.<key>`) on the parent."""
    if not results_file.is_file():
        return
    client = mlflow.MlflowClient()
    client.log_artifact(parent, str(results_file))
    best_params = yaml.safe_load(results_file.read_text()).get("best_params") or {}
    for key, value in best_params.items():
        client.log_param(parent, f"best.{key}", value)
