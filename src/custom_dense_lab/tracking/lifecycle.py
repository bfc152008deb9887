"""A run's life: the process that runs it, its heartbeat, and how it ends (docs/ending.md).
Imports MLflow and psutil only: a sweep's workers load it before TensorFlow."""

import contextlib
import os
import socket
import sys
import threading
import time

import mlflow
import psutil

from custom_dense_lab.tracking import disk

HOST_TAG, PID_TAG, HEARTBEAT_TAG, LAUNCHER_JOB_TAG = "host", "pid", "heartbeat", "launcher_job_id"
PROCESS_STARTED_TAG = "process_started"
LAUNCHER_JOB_ENV = "CUSTOM_DENSE_LAUNCHER_JOB_ID"  # the job id a launcher gives each task (Ray)
FAILURE_TAG, REOPENED_TAG = "failure_reason", "reopened"
REOPENED_TEXT = "closed as lost while its job still ran; the job then finished it"
LOST_REASON = "the job's process ended before its run did (killed, or crashed)"
PROJECT_ENTRY_POINT_TAG = "mlflow.project.entryPoint"
NEVER_STARTED_REASON = (
    "`mlflow run` opened this run, but the project never started (no process took it up "
    "within 60 minutes)"  # `mlflow run` may build a conda environment for long
)


def process_tags():
    """The tags that identify this process: host, pid, start time, launcher job id, heartbeat."""
    process, job_id = psutil.Process(), launcher_job_id()
    return {
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(process.pid),
        PROCESS_STARTED_TAG: f"{process.create_time():.2f}",
        HEARTBEAT_TAG: f"{time.time():.0f}",
        **({LAUNCHER_JOB_TAG: job_id} if job_id else {}),
    }


def launcher_job_id():
    """Ray's job id, SLURM's `<array job>_<task>` or job id, else submitit's, else `None`."""
    env = os.environ
    array = env.get("SLURM_ARRAY_JOB_ID") and (
        f"{env['SLURM_ARRAY_JOB_ID']}_{env.get('SLURM_ARRAY_TASK_ID', '')}"
    )
    slurm = array or env.get("SLURM_JOB_ID")
    return env.get(LAUNCHER_JOB_ENV) or slurm or env.get("SUBMITIT_LOCAL_JOB_ID")


@contextlib.contextmanager
def heartbeat(run_id):
    """Refreshes the run's `heartbeat` tag every 30 s meanwhile; a failed one is skipped."""
    stopped = threading.Event()

    def beat():
        while not stopped.wait(30.0):
            with contextlib.suppress(Exception):  # a missed beat: the next one tries again
                mlflow.MlflowClient().set_tag(run_id, HEARTBEAT_TAG, f"{time.time():.0f}")

    thread = threading.Thread(target=beat, name="mlflow-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopped.set()
        thread.join(timeout=30.0)


def close_lost_runs(experiment_id, reason=LOST_REASON):
    """Fails the RUNNING runs whose process is gone or project never started; returns their ids."""
    running = mlflow.MlflowClient().search_runs(
        [experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000
    )
    closed = []
    for run in running:
        tags, age_s = run.data.tags, time.time() - run.info.start_time / 1000.0
        untaken = PROJECT_ENTRY_POINT_TAG in tags and not {PID_TAG, HEARTBEAT_TAG} & tags.keys()
        never_started = untaken and age_s > 3600.0
        why = reason if is_lost(tags) else NEVER_STARTED_REASON if never_started else None
        if why:
            fail_run(run.info.run_id, why)
            closed.append(run.info.run_id)
    return closed


def is_lost(tags):
    """Whether a run's process is gone (this host) or its heartbeat stale, 5 minutes (elsewhere)."""
    if tags.get(HOST_TAG) == socket.gethostname() and PID_TAG in tags:
        return local_process(tags) is None
    return HEARTBEAT_TAG in tags and time.time() - float(tags[HEARTBEAT_TAG]) > 300.0


def local_process(tags):
    """The pid of this host's live process the tags name (same id and start time), else `None`."""
    if tags.get(HOST_TAG) != socket.gethostname() or PID_TAG not in tags:
        return None
    try:
        process = psutil.Process(int(tags[PID_TAG]))
        started = float(tags.get(PROCESS_STARTED_TAG, process.create_time()))
        same = abs(process.create_time() - started) <= 1.0
        return process.pid if same and process.status() != psutil.STATUS_ZOMBIE else None
    except psutil.NoSuchProcess:
        return None


def end_run(run_id, status="FINISHED", reason=None):
    """Ends a run with `status`, its `failure_reason` tag first where a reason is given."""
    if reason is not None:
        mlflow.MlflowClient().set_tag(run_id, FAILURE_TAG, reason[:5000])
    mlflow.MlflowClient().set_terminated(run_id, status=status)


def fail_run(run_id, reason, status="FAILED"):
    end_run(run_id, status, reason)


def finish_active_run():
    """Ends the active run FINISHED; one closed as lost meanwhile is tagged `reopened` instead."""
    run_id, client = mlflow.active_run().info.run_id, mlflow.MlflowClient()
    if client.get_run(run_id).data.tags.get(FAILURE_TAG) == LOST_REASON:
        client.delete_tag(run_id, FAILURE_TAG)
        client.set_tag(run_id, REOPENED_TAG, REOPENED_TEXT)
    mlflow.end_run()


def end_active_run(status, reason, details=None):
    """Ends the active run `status` with its `failure_reason` and `traceback.txt`, each tried."""
    run_id, problems = mlflow.active_run().info.run_id, []
    for record in (
        lambda: details and mlflow.log_text(details, "traceback.txt"),
        lambda: mlflow.set_tag(FAILURE_TAG, reason[:5000]),
        lambda: mlflow.end_run(status=status),
    ):
        try:
            record()
        except Exception as error:
            problems.append(describe_error(error))
    if problems:
        print(f"error: could not record run {run_id} fully: {problems[0]}", file=sys.stderr)


def describe_error(error):
    """An exception as one line: what a full disk caused, else its type and message."""
    storage = disk.storage_failure(error)
    return str(storage) if storage else f"{type(error).__name__}: {error}".replace("\n", " ")
