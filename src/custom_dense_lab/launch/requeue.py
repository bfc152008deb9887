"""A launcher job's runs when its scheduler acts from outside it: ended for it, or adopted by its
next attempt. They are found under the sweep's parent by their `launcher_job_id` tag."""

import os

import mlflow
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from custom_dense_lab.tracking.lifecycle import (
    FAILURE_TAG,
    LAUNCHER_JOB_TAG,
    fail_run,
    launcher_job_id,
)
from custom_dense_lab.tracking.names import OVERRIDES_TAG

RESTARTS_TAG = "launcher_restarts"  # how many times SLURM started the run's job again


def job_lost(parent_run_id, job_id, overrides, reason, where=""):
    """A job that died outside its own code: its unfinished runs ended FAILED with `reason` (one
    that never started gets a run), a `FAILED` line, and the `JobReturn` of a failed job."""
    label = " ".join(filter_overrides(overrides))
    if parent_run_id:
        runs = job_runs(parent_run_id, job_id) or [
            mlflow.MlflowClient().create_run(
                mlflow.get_run(parent_run_id).info.experiment_id,
                run_name=label,
                tags={
                    MLFLOW_PARENT_RUN_ID: parent_run_id,
                    LAUNCHER_JOB_TAG: job_id,
                    OVERRIDES_TAG: " ".join(overrides),
                },
            )
        ]
        for run in runs:
            if run.info.status != "FINISHED":
                fail_run(run.info.run_id, reason)
    print(f"FAILED [{label}] {reason}{where}", flush=True)
    ended = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
    ended.return_value = None
    return ended


def adopt_requeued_run(parent_run_id, overrides):
    """In a job SLURM started again, makes `mlflow.start_run()` resume its first attempt's run
    (through MLflow's `MLFLOW_RUN_ID`), without its `failure_reason` and with `launcher_restarts`."""
    restarts = os.environ.get("SLURM_RESTART_COUNT", "0")
    job_id = launcher_job_id()
    if parent_run_id is None or job_id is None or restarts in ("", "0"):
        return
    label = " ".join(overrides)
    runs = [r for r in job_runs(parent_run_id, job_id) if r.data.tags.get(OVERRIDES_TAG) == label]
    if runs:
        run_id, client = runs[0].info.run_id, mlflow.MlflowClient()
        if FAILURE_TAG in runs[0].data.tags:
            client.delete_tag(run_id, FAILURE_TAG)
        client.set_tag(run_id, RESTARTS_TAG, restarts)
        mlflow.environment_variables.MLFLOW_RUN_ID.set(run_id)


def recorded_failure(parent_run_id, job_id):
    """The last `failure_reason` a job recorded on its runs."""
    runs = job_runs(parent_run_id, job_id) if parent_run_id else []
    reasons = (run.data.tags.get(FAILURE_TAG) for run in reversed(runs))
    return next(filter(None, reasons), "see its run")


def job_runs(parent_run_id, job_id):
    """The runs of one launcher job under a sweep's parent, the oldest first."""
    return mlflow.MlflowClient().search_runs(
        [mlflow.get_run(parent_run_id).info.experiment_id],
        filter_string=f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_run_id}' AND "
        f"tags.`{LAUNCHER_JOB_TAG}` = '{job_id}'",
        order_by=["attributes.start_time ASC"],
    )
