"""A worker that stops, closing its runs FAILED, once the process it works for is gone."""

import atexit
import contextlib
import os
import signal
import socket
import sys
import threading
import time

import mlflow
import psutil

from custom_dense_lab.sweep import parent
from custom_dense_lab.tracking import lifecycle

LAUNCHER_ENDED = "the sweep's launching process ended"
CALLER_ENDED = "the process that started this backend worker ended"
CHECK_INTERVAL_S = 1.0

_watching = threading.Event()
_stopping = threading.Lock()


def watch_launcher():
    """Stops a sweep's local worker once its launcher is gone (SLURM watches its own jobs)."""
    if parent.in_worker_process() and os.environ.get("SUBMITIT_EXECUTOR") != "slurm":
        launcher_pid = parent.launcher_pid()
        _watch(lambda: launcher_alive(launcher_pid), LAUNCHER_ENDED)


def watch_caller(caller_pid):
    """Stops this backend worker once `caller_pid`, which started it, is gone."""
    _watch(lambda: os.getppid() == caller_pid, CALLER_ENDED)


def launcher_alive(launcher_pid):
    """Whether the launcher runs: this process's parent, or a live process of that id older
    than this one (one that took the id after the launcher ended is younger)."""
    if os.getppid() == launcher_pid:
        return True
    try:
        launcher = psutil.Process(launcher_pid)
        started_first = launcher.create_time() <= psutil.Process().create_time()
        return started_first and launcher.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _watch(is_alive, reason):
    if not is_alive():
        _stop(reason)
    if not _watching.is_set():
        _watching.set()
        _load_the_store()
        atexit.register(_check_at_exit, is_alive, reason)
        threading.Thread(target=_check_forever, args=(is_alive, reason), daemon=True).start()


def _load_the_store():
    """Loads the store's modules in this thread: the watch must not wait on an import that the
    main thread holds (TensorFlow's, which can outlast a stop), nor deadlock with it."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        with contextlib.suppress(Exception):  # a job meets a broken store itself, and says so
            _running_here()


def _check_at_exit(is_alive, reason):
    """A worker may end on its own once its owner is gone (loky's does, its pipe closed): before
    the watch sees it. It stops as the watch would."""
    if not is_alive():
        _stop(reason)


def _check_forever(is_alive, reason):
    while is_alive():
        time.sleep(CHECK_INTERVAL_S)
    _stop(reason)


def _stop(reason):
    """Kills this process's children, closes their runs, its own and a lost parent, exits 1."""
    with _stopping:  # the watch and a job's start may both find the owner gone: one stops
        try:
            children = psutil.Process().children()
            for child in children:  # killed, and left for their `Popen` to reap
                with contextlib.suppress(ProcessLookupError, ChildProcessError):
                    os.kill(child.pid, signal.SIGKILL)
                    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
            close_orphaned_runs([os.getpid(), *(child.pid for child in children)], reason)
        finally:
            print(f"error: {reason}: this worker stops", file=sys.stderr, flush=True)
            os._exit(1)


def close_orphaned_runs(pids, reason):
    """Ends FAILED with `reason` the RUNNING runs of this host's processes `pids`, and the
    sweep's lost parent with `LAUNCHER_ENDED`; returns the ids of the runs closed."""
    pids = {str(pid) for pid in pids}
    parent_run_id = os.environ.get(parent.PARENT_RUN_ENV)
    closed = []
    for run in _running_here():
        if run.data.tags.get(lifecycle.PID_TAG) in pids:
            lifecycle.fail_run(run.info.run_id, reason)
        elif run.info.run_id == parent_run_id and lifecycle.is_lost(run.data.tags):
            lifecycle.fail_run(run.info.run_id, LAUNCHER_ENDED)
        else:
            continue
        closed.append(run.info.run_id)
    return closed


def _running_here():
    host = f"tags.{lifecycle.HOST_TAG} = '{socket.gethostname()}'"
    return mlflow.search_runs(
        search_all_experiments=True,
        filter_string=f"attributes.status = 'RUNNING' and {host}",
        output_format="list",
    )
