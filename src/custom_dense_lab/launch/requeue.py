"""A launcher job's runs when its scheduler acts from outside it: ended for it, or adopted by its next attempt.

A job's runs are found under the sweep's parent by their `launcher_job_id`
tag (see `lifecycle.process_tags`) and, where one sbatch job runs a whole
sweep, their overrides.
"""

import os

import mlflow
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from custom_dense_lab.tracking.lifecycle import (
    FAILURE_TAG,
    LAUNCHER_JOB_TAG,
    fail_run,
    launcher_job_id,
)
from custom_dense_lab.tracking.names import OVERRIDES_TAG

RESTARTS_TAG = "launcher_restarts"  # how many times SLURM started the run's job again


def end_job_runs(parent_run_id, job_id, overrides, reason, run_name=None):
    """Ends the job's unfinished runs FAILED with `reason` (one that never started gets a run);
    returns their ids."""
    runs = job_runs(parent_run_id, job_id)
    if not runs:
        tags = {
            MLFLOW_PARENT_RUN_ID: parent_run_id,
            LAUNCHER_JOB_TAG: job_id,
            OVERRIDES_TAG: " ".join(overrides),
        }
        experiment_id = mlflow.get_run(parent_run_id).info.experiment_id
        runs = [
            mlflow.MlflowClient().create_run(
                experiment_id, run_name=run_name or f"SLURM job {job_id}", tags=tags
            )
        ]
    ended = [run.info.run_id for run in runs if run.info.status != "FINISHED"]
    for run_id in ended:
        fail_run(run_id, reason)
    return ended


def adopt_requeued_run(parent_run_id, overrides):
    """In a job SLURM started again, makes `mlflow.start_run()` resume its first attempt's run.

    The run loses the first attempt's `failure_reason` and gains `launcher_restarts`;
    `MLFLOW_RUN_ID`, MLflow's own variable, names it to the job's `mlflow.start_run`.
    """
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


def job_runs(parent_run_id, job_id):
    """The runs of one launcher job under a sweep's parent, the oldest first."""
    experiment_id = mlflow.get_run(parent_run_id).info.experiment_id
    return mlflow.MlflowClient().search_runs(
        [experiment_id],
        filter_string=f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_run_id}' AND tags.`{LAUNCHER_JOB_TAG}` = '{job_id}'",
        order_by=["attributes.start_time ASC"],
    )
