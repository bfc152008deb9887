"""A run's life: who runs it, that it is alive, and how it ends.

Every job and sweep parent records where it runs: the host, the process id
and the process's start time (so that a reused process id is not mistaken for
it), and the launcher's job id where there is one. While it runs, `Heartbeat`
refreshes its `heartbeat` tag. It ends FINISHED, or FAILED or KILLED with the
reason in its `failure_reason` tag (`end_run`, `end_active_run`). A run left
RUNNING by a process that is gone (killed, out of memory, a lost node) is
recognised by whoever opens the store next (`close_lost_runs`): on the same
host by its process, elsewhere by a heartbeat older than `STALE_AFTER_S`.

Imports MLflow and psutil only (and `disk`, which imports MLflow), so that a
sweep's worker processes can load the sweep callback before TensorFlow (see
`custom_dense_lab.process.startup`).
"""

import os
import socket
import sys
import threading
import time

import mlflow
import psutil

from custom_dense_lab.tracking import disk

HOST_TAG = "host"
PID_TAG = "pid"
PROCESS_STARTED_TAG = "process_started"
LAUNCHER_JOB_TAG = "launcher_job_id"
HEARTBEAT_TAG = "heartbeat"
HEARTBEAT_INTERVAL_S = 30.0
# A run on another host whose heartbeat is older than this is taken for lost.
STALE_AFTER_S = 300.0
LOST_REASON = "the job's process ended before its run did (killed, or crashed)"
# `mlflow run` opens a run before it builds the project's environment and starts the entry
# point, which then tags the run with its process. A run of `mlflow run` that no process took
# up this long after it opened (a conda environment may take many minutes to build) belongs
# to a project that never started.
PROJECT_ENTRY_POINT_TAG = "mlflow.project.entryPoint"
PROJECT_START_TIMEOUT_S = 3600.0
NEVER_STARTED_REASON = (
    "`mlflow run` opened this run, but the project never started (no process took it up "
    f"within {PROJECT_START_TIMEOUT_S / 60:.0f} minutes)"
)


def process_tags():
    """Tags that identify this process: host, pid, start time, launcher job id, heartbeat."""
    process = psutil.Process()
    tags = {
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(process.pid),
        PROCESS_STARTED_TAG: f"{process.create_time():.2f}",
        HEARTBEAT_TAG: f"{time.time():.0f}",
    }
    job_id = launcher_job_id()
    if job_id:
        tags[LAUNCHER_JOB_TAG] = job_id
    return tags


class Heartbeat:
    """Refreshes a run's `heartbeat` tag every `interval_s` seconds, in a daemon thread.

    Use as a context manager around the run's work. A failed refresh (the
    store briefly away) is skipped; the next one tries again.

    Args:
        run_id: The run to keep alive.
        interval_s: Seconds between refreshes.
    """

    def __init__(self, run_id, interval_s=HEARTBEAT_INTERVAL_S):
        self._run_id = run_id
        self._interval_s = interval_s
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="mlflow-heartbeat", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stopped.set()
        self._thread.join(timeout=self._interval_s)

    def _beat(self):
        client = mlflow.MlflowClient()
        while not self._stopped.wait(self._interval_s):
            try:
                client.set_tag(self._run_id, HEARTBEAT_TAG, f"{time.time():.0f}")
            except Exception:  # a missed beat: the next one tries again
                continue


def close_lost_runs(experiment_id, reason=LOST_REASON):
    """Marks the experiment's RUNNING runs whose process is gone as FAILED.

    Runs that `mlflow run` opened for a project that never started are closed
    too, with their own reason (see `never_started`).

    Args:
        experiment_id: The experiment to look in.
        reason: The `failure_reason` to record.

    Returns:
        The ids of the runs it closed.
    """
    running = mlflow.MlflowClient().search_runs(
        [experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000
    )
    closed = []
    for run in running:
        if is_lost(run.data.tags):
            fail_run(run.info.run_id, reason)
        elif never_started(run):
            fail_run(run.info.run_id, NEVER_STARTED_REASON)
        else:
            continue
        closed.append(run.info.run_id)
    return closed


def never_started(run, now=None):
    """Whether `mlflow run` opened `run` over `PROJECT_START_TIMEOUT_S` ago and no process took it up.

    Args:
        run: An MLflow `Run`.
        now: The current time, in seconds since the epoch; default: now.
    """
    tags = run.data.tags
    if PROJECT_ENTRY_POINT_TAG not in tags or PID_TAG in tags or HEARTBEAT_TAG in tags:
        return False
    return (now or time.time()) - run.info.start_time / 1000.0 > PROJECT_START_TIMEOUT_S


def is_lost(tags, now=None):
    """Whether the process a run's tags describe is gone.

    Args:
        tags: The run's tags.
        now: The current time, in seconds since the epoch; default: now.

    Returns:
        `True` for a run of this host whose process has ended (or is another
        process with the same id), or a run elsewhere whose heartbeat is stale;
        `False` when it may still run, or when the run carries no such tags.
    """
    if tags.get(HOST_TAG) == socket.gethostname() and PID_TAG in tags:
        return local_process(tags) is None
    if HEARTBEAT_TAG in tags:
        return (now or time.time()) - float(tags[HEARTBEAT_TAG]) > STALE_AFTER_S
    return False


def local_process(tags):
    """The id of the live process of this host that a run's tags describe, else `None`.

    `None` as well for a run of another host, or whose process id now belongs
    to another process (a different start time).
    """
    if tags.get(HOST_TAG) != socket.gethostname() or PID_TAG not in tags:
        return None
    pid, started = int(tags[PID_TAG]), tags.get(PROCESS_STARTED_TAG)
    try:
        process = psutil.Process(pid)
        if started is not None and abs(process.create_time() - float(started)) > 1.0:
            return None
        return None if process.status() == psutil.STATUS_ZOMBIE else pid
    except psutil.NoSuchProcess:
        return None


def launcher_job_id():
    """This process's job id in its launcher.

    Returns:
        SLURM's `<array job id>_<task id>` in an array task, else SLURM's job
        id, else submitit's local job id; `None` outside a launcher's job.
    """
    if os.environ.get("SLURM_ARRAY_JOB_ID"):
        return f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID', '')}"
    return os.environ.get("SLURM_JOB_ID") or os.environ.get("SUBMITIT_LOCAL_JOB_ID")


FAILURE_TAG = "failure_reason"
# A run closed as lost whose job then finished it.
REOPENED_TAG = "reopened"
REOPENED_TEXT = "closed as lost while its job still ran; the job then finished it"
# MLflow's limit on a tag's value.
_MAX_TAG_LENGTH = 5000


def end_run(run_id, status="FINISHED", reason=None):
    """Ends a run with `status`; a reason is recorded first, in its `failure_reason` tag.

    Args:
        run_id: The run to end.
        status: `"FINISHED"`, `"FAILED"` or `"KILLED"`.
        reason: Why it failed or was stopped, or `None`.
    """
    if reason is not None:
        _tag_reason(run_id, reason)
    mlflow.MlflowClient().set_terminated(run_id, status=status)


def fail_run(run_id, reason, status="FAILED"):
    """Ends a run FAILED (or `status`, e.g. KILLED) with the reason as its `failure_reason` tag."""
    end_run(run_id, status, reason)


def finish_active_run():
    """Ends this process's active run FINISHED.

    A run that another process closed as lost while its job was in fact alive
    (its heartbeat delayed) loses that stale `failure_reason` and gets the tag
    `reopened`, which says what happened.
    """
    run_id = mlflow.active_run().info.run_id
    client = mlflow.MlflowClient()
    if client.get_run(run_id).data.tags.get(FAILURE_TAG) == LOST_REASON:
        client.delete_tag(run_id, FAILURE_TAG)
        client.set_tag(run_id, REOPENED_TAG, REOPENED_TEXT)
    mlflow.end_run()


def end_active_run(status, reason, details=None):
    """Ends this process's active run with `status` and the reason, whatever the store accepts.

    Each record is tried on its own, so that a store that refuses one (an
    unwritable artifact root, say) still gets the others; the run always leaves
    MLflow's active-run stack, so the next job of the process gets its own run.

    Args:
        status: `"FAILED"` or `"KILLED"`.
        reason: The `failure_reason` tag.
        details: A traceback to log as `traceback.txt`, or `None`.
    """
    run_id = mlflow.active_run().info.run_id
    problems = []
    if details:
        try:
            mlflow.log_text(details, "traceback.txt")
        except Exception as error:
            problems.append(describe_error(error))
    try:
        _tag_reason(run_id, reason)
    except Exception as error:
        problems.append(describe_error(error))
    try:
        mlflow.end_run(status=status)
    except Exception as error:
        problems.append(describe_error(error))
    if problems:
        print(f"error: could not record run {run_id} fully: {problems[0]}", file=sys.stderr)


def _tag_reason(run_id, reason):
    mlflow.MlflowClient().set_tag(run_id, FAILURE_TAG, reason[:_MAX_TAG_LENGTH])


def describe_error(error):
    """An exception as one line: its type and its message, or what a full disk caused."""
    storage = disk.storage_failure(error)
    if storage is not None:
        return str(storage)
    return f"{type(error).__name__}: {error}".replace("\n", " ")
