"""Hydra callback that gives a multirun one MLflow parent run and its comparison report."""

import os
import pathlib
import time

import mlflow
from hydra.experimental.callback import Callback

from custom_dense import report, tracking

SWEEP_TAG = "custom_dense.sweep"
PARENT_ID_FILE = "mlflow_parent_run_id"
# Jobs of this process's last multirun (or single run) that failed, as `(run name, reason)`.
FAILED_JOBS = []


class MlflowSweepCallback(Callback):
    """Opens the sweep's parent run before the jobs and reports on it after them.

    The parent is the run `mlflow run` started, when there is one, else a new
    run. Its id reaches every job, in this process or another, through the
    `CUSTOM_DENSE_PARENT_RUN_ID` environment variable and the file
    `mlflow_parent_run_id` in the sweep folder. At the end, the parent gets the
    comparison report, and is marked FAILED if any job failed.
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
        os.environ[tracking.PARENT_RUN_ENV] = parent
        sweep_dir = pathlib.Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / PARENT_ID_FILE).write_text(parent + "\n")
        FAILED_JOBS.clear()
        print(f"MLflow parent run {parent} (experiment {experiment_id})", flush=True)

    def on_multirun_end(self, config, **kwargs):
        parent = os.environ.pop(tracking.PARENT_RUN_ENV)
        runs = report.child_runs(parent)
        failed = runs[runs["status"] != "FINISHED"] if not runs.empty else runs
        FAILED_JOBS[:] = [
            (row.get("tags.mlflow.runName", row["run_id"]), row.get(f"tags.{tracking.FAILURE_TAG}"))
            for _, row in failed.iterrows()
        ]
        _, markdown = report.log_report(parent)
        print(markdown, flush=True)
        if FAILED_JOBS:
            names = "; ".join(str(name) for name, _ in FAILED_JOBS)
            tracking.fail_run(parent, f"{len(FAILED_JOBS)} of {len(runs)} jobs failed: {names}")
        else:
            mlflow.MlflowClient().set_terminated(parent)
        print(
            f"MLflow parent run {parent}: {len(runs) - len(FAILED_JOBS)} of {len(runs)} jobs finished"
        )
