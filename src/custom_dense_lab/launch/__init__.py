"""A launcher job's runs when its scheduler (SLURM, Ray) acts from outside it: ended for it, or
adopted by its next attempt; found under the sweep's parent by their `launcher_job_id` tag."""

import os

import mlflow
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from custom_dense_lab.tracking import lifecycle
from custom_dense_lab.tracking.names import OVERRIDES_TAG


def job_lost(parent_run_id, job_id, overrides, reason, where=""):
    """A job that died outside its own code: its unfinished runs (or a new one, where it had none)
    end FAILED with `reason`, and its `FAILED` line; the `JobReturn` of a failed job."""
    label = " ".join(filter_overrides(overrides))
    tags = {MLFLOW_PARENT_RUN_ID: parent_run_id, lifecycle.LAUNCHER_JOB_TAG: job_id}
    tags[OVERRIDES_TAG] = " ".join(overrides)
    experiment = mlflow.get_run(parent_run_id).info.experiment_id
    new_run = mlflow.MlflowClient().create_run
    for run in job_runs(parent_run_id, job_id) or [new_run(experiment, None, tags, label)]:
        if run.info.status != "FINISHED":
            lifecycle.fail_run(run.info.run_id, reason)
    print(f"FAILED [{label}] {reason}{where}", flush=True)
    return JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)  # returns None


def adopt_requeued_run(parent_run_id, overrides):
    """In a job SLURM started again, makes `mlflow.start_run()` resume its first attempt's run
    (MLflow's `MLFLOW_RUN_ID`), without its `failure_reason` and with `launcher_restarts`."""
    restarts = os.environ.get("SLURM_RESTART_COUNT", "0")
    for run in job_runs(parent_run_id, lifecycle.launcher_job_id()) if restarts != "0" else []:
        if run.data.tags.get(OVERRIDES_TAG) == " ".join(overrides):
            client = mlflow.MlflowClient()
            if lifecycle.FAILURE_TAG in run.data.tags:
                client.delete_tag(run.info.run_id, lifecycle.FAILURE_TAG)
            client.set_tag(run.info.run_id, "launcher_restarts", restarts)
            return mlflow.environment_variables.MLFLOW_RUN_ID.set(run.info.run_id)


def job_runs(parent_run_id, job_id):
    """The runs of one launcher job under a sweep's parent, the oldest first."""
    return mlflow.MlflowClient().search_runs(
        [mlflow.get_run(parent_run_id).info.experiment_id],
        filter_string=f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_run_id}' AND "
        f"tags.`{lifecycle.LAUNCHER_JOB_TAG}` = '{job_id}'",
        order_by=["attributes.start_time ASC"],
    )
