"""A job's run when the scheduler acts from outside the job: ends it, or starts it again.

SLURM can end a job that is still running (scancel, the time limit, memory,
a lost node) before the job records why, or requeue it (preemption, `scontrol
requeue`) so that it starts again from the beginning. A job's runs are found
by its `launcher_job_id` tag (see `lifecycle.process_tags`) under the sweep's
parent: the launcher closes them with SLURM's reason, and a restarted job
records into the run of its first attempt, so that one job never leaves two
runs.
"""

import os

import mlflow

from custom_dense_lab.tracking.lifecycle import (
    FAILURE_TAG,
    LAUNCHER_JOB_TAG,
    fail_run,
    launcher_job_id,
)
from custom_dense_lab.tracking.names import OVERRIDES_TAG

# Set by SLURM in a job it has started again (requeued); absent in a first attempt.
RESTART_COUNT_ENV = "SLURM_RESTART_COUNT"
# How many times the scheduler started the job of a run again.
RESTARTS_TAG = "launcher_restarts"
# The tag MLflow nests a run under its parent by.
_PARENT_TAG = "mlflow.parentRunId"


def end_job_runs(parent_run_id, job_id, overrides, reason):
    """Ends a launcher job's runs that did not finish FAILED with `reason`.

    A job that never started (cancelled while it waited, say) gets a FAILED
    run of its own, so that the sweep's parent names it too.

    Args:
        parent_run_id: The sweep's parent run.
        job_id: The launcher's id of the job, e.g. SLURM's `"1234_5"`.
        overrides: The job's overrides, which name it.
        reason: The `failure_reason` to record.

    Returns:
        The ids of the runs it ended or created.
    """
    runs = job_runs(parent_run_id, job_id)
    if not runs:
        experiment_id = mlflow.get_run(parent_run_id).info.experiment_id
        tags = {
            _PARENT_TAG: parent_run_id,
            LAUNCHER_JOB_TAG: job_id,
            OVERRIDES_TAG: " ".join(overrides),
        }
        created = mlflow.MlflowClient().create_run(
            experiment_id, run_name=f"SLURM job {job_id}", tags=tags
        )
        runs = [created]
    ended = [run.info.run_id for run in runs if run.info.status != "FINISHED"]
    for run_id in ended:
        fail_run(run_id, reason)
    return ended


def resume_requeued_run(parent_run_id, overrides):
    """The run of this job's earlier attempt, made ready for the job that SLURM started again.

    The earlier attempt is the run under the same parent with this job's
    launcher job id and overrides (one sbatch job running a whole sweep
    gives every job of it the same launcher job id). Its `failure_reason`
    (the first attempt's "interrupted by SIGTERM", say) is removed and its
    `launcher_restarts` tag set; the caller resumes it with
    `mlflow.start_run(run_id=...)`.

    Args:
        parent_run_id: The sweep's parent run, or `None` outside a sweep.
        overrides: The job's overrides.

    Returns:
        The run id, or `None` in a first attempt, outside a sweep, or when
        the earlier attempt left no run.
    """
    restarts = os.environ.get(RESTART_COUNT_ENV, "0")
    job_id = launcher_job_id()
    if parent_run_id is None or job_id is None or restarts in ("", "0"):
        return None
    label = " ".join(overrides)
    runs = [
        run for run in job_runs(parent_run_id, job_id) if run.data.tags.get(OVERRIDES_TAG) == label
    ]
    if not runs:
        return None
    run = runs[0]
    client = mlflow.MlflowClient()
    if FAILURE_TAG in run.data.tags:
        client.delete_tag(run.info.run_id, FAILURE_TAG)
    client.set_tag(run.info.run_id, RESTARTS_TAG, restarts)
    return run.info.run_id


def job_runs(parent_run_id, job_id):
    """The runs of one launcher job under a sweep's parent, the oldest first."""
    experiment_id = mlflow.get_run(parent_run_id).info.experiment_id
    return mlflow.MlflowClient().search_runs(
        [experiment_id],
        filter_string=(
            f"tags.`{_PARENT_TAG}` = '{parent_run_id}' AND tags.`{LAUNCHER_JOB_TAG}` = '{job_id}'"
        ),
        order_by=["attributes.start_time ASC"],
    )
