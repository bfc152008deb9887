"""A sweep's worker process ends its jobs when the process that launched the sweep is gone.

joblib's and submitit's local workers are children of the launching process.
Killed outright (SIGKILL, out of memory), it cannot stop them: they would go
on for minutes, finishing jobs for a sweep that no longer exists.
"""

import os
import sys
import threading
import time

import mlflow

from custom_dense_lab.tracking import lifecycle

LAUNCHER_ENDED = "the sweep's launching process ended"
CHECK_INTERVAL_S = 1.0

_watching = threading.Event()
# The parent of the sweep this process last ran a job for.
_parent_run_id = None


def watch_launcher(launcher_pid, parent_run_id):
    """Ends this process when the launcher is gone, its runs and the sweep's parent closed FAILED.

    Watches from a daemon thread, once per process, and only where the
    launcher is this process's parent: a job on another host, or started by
    SLURM, has its own watch (the scheduler).

    Args:
        launcher_pid: The process id of the sweep's launching process.
        parent_run_id: The sweep's parent run.
    """
    global _parent_run_id
    _parent_run_id = parent_run_id
    if os.getppid() != launcher_pid or _watching.is_set():
        return
    _watching.set()
    threading.Thread(
        target=_watch,
        args=(launcher_pid,),
        name="sweep-launcher-watch",
        daemon=True,
    ).start()


def _watch(launcher_pid):
    while os.getppid() == launcher_pid:
        time.sleep(CHECK_INTERVAL_S)
    try:
        close_orphaned_runs(_parent_run_id)
    finally:
        print(f"error: {LAUNCHER_ENDED}: this worker stops", file=sys.stderr, flush=True)
        os._exit(1)


def close_orphaned_runs(parent_run_id):
    """Closes this process's RUNNING jobs of the sweep FAILED, and the parent if its process is gone.

    Returns:
        The ids of the runs it closed.
    """
    client = mlflow.MlflowClient()
    parent = client.get_run(parent_run_id)
    mine = client.search_runs(
        [parent.info.experiment_id],
        filter_string=(
            f"tags.mlflow.parentRunId = '{parent_run_id}' and attributes.status = 'RUNNING' "
            f"and tags.{lifecycle.PID_TAG} = '{os.getpid()}'"
        ),
    )
    closed = [run.info.run_id for run in mine]
    if parent.info.status == "RUNNING" and lifecycle.is_lost(parent.data.tags):
        closed.append(parent_run_id)
    for run_id in closed:
        lifecycle.fail_run(run_id, LAUNCHER_ENDED)
    return closed
