"""A sweep's parent run, created (or adopted) before its jobs and found by each; the watch that
stops a worker, closing its runs FAILED, once the process it works for is gone."""

import atexit
import contextlib
import os
import pathlib
import socket
import sys
import threading
import time

import mlflow
import psutil
from mlflow.entities import RunTag
from mlflow.exceptions import MlflowException
from omegaconf import OmegaConf

from custom_dense_lab.errors import SweepNotFoundError
from custom_dense_lab.tracking import lifecycle, names, store

SWEEP_TAG = "custom_dense.sweep"
PARENT_RUN_ENV = "CUSTOM_DENSE_PARENT_RUN_ID"
PARENT_ID_FILE = "mlflow_parent_run_id"
LAUNCHER_PID_ENV = "CUSTOM_DENSE_SWEEP_LAUNCHER_PID"
LAUNCHER_ENDED = "the sweep's launching process ended"
CALLER_ENDED = "the process that started this backend worker ended"
_watching = threading.Event()
_stopping = threading.Lock()


def parent_run_id(sweep_dir):
    """The sweep's parent run id: from the environment, else the sweep folder's file (SLURM)."""
    id_file = pathlib.Path(sweep_dir) / PARENT_ID_FILE
    if PARENT_RUN_ENV in os.environ or not id_file.is_file():
        return os.environ.get(PARENT_RUN_ENV)
    return id_file.read_text().strip()


def in_worker_process():
    """Whether this process runs a sweep's jobs for another process (joblib, submitit, SLURM)."""
    return os.environ.get(LAUNCHER_PID_ENV, str(os.getpid())) != str(os.getpid())


def open_parent(config):
    """Creates (or adopts `mlflow run`'s) the sweep's parent run; returns it and its experiment."""
    sweep_dir = pathlib.Path(config.hydra.sweep.dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)  # first: without it nothing is recorded
    project_run = os.environ.pop("MLFLOW_RUN_ID", None)
    experiment_id = store.open_experiment(config.mlflow.experiment_name, project_run)
    client, overrides = mlflow.MlflowClient(), config.hydra.overrides.task
    params = config.hydra.sweeper.get("params")
    swept = names.swept_values(overrides, OmegaConf.to_container(params) if params else None)
    parent = project_run or client.create_run(experiment_id).info.run_id
    client.update_run(parent, name=names.sweep_name(swept))
    os.environ[PARENT_RUN_ENV], os.environ[LAUNCHER_PID_ENV] = parent, str(os.getpid())
    tags = {**lifecycle.process_tags(), SWEEP_TAG: "true", names.SWEPT_KEYS_TAG: ",".join(swept)}
    client.log_batch(parent, tags=[RunTag(key, value) for key, value in tags.items()])
    client.log_text(parent, "\n".join(overrides) + "\n", "sweep_overrides.txt")
    (sweep_dir / PARENT_ID_FILE).write_text(parent + "\n")
    return parent, experiment_id


def find_sweep(experiment_name, parent=None):
    """`parent` if a sweep's parent run, else the latest sweep of the experiment (or the store)."""
    if parent:
        try:
            tags = mlflow.get_run(parent).data.tags
        except MlflowException:
            raise SweepNotFoundError(f"no run {parent!r} in the tracking store") from None
        if tags.get(SWEEP_TAG) != "true":
            raise SweepNotFoundError(
                f"run {parent!r} is not a sweep's parent run (it has no tag {SWEEP_TAG}=true)"
            )
        return parent
    runs = mlflow.search_runs(
        experiment_names=[experiment_name] if experiment_name else None,
        search_all_experiments=not experiment_name,
        filter_string=f"tags.`{SWEEP_TAG}` = 'true'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if runs.empty:
        place = f"experiment {experiment_name!r}" if experiment_name else "this tracking store"
        raise SweepNotFoundError(f"no sweep found in {place}")
    return runs.iloc[0]["run_id"]


def watch_launcher():
    """Stops a sweep's local worker once its launcher is gone (SLURM watches its own jobs)."""
    if in_worker_process() and os.environ.get("SUBMITIT_EXECUTOR") != "slurm":
        launcher_pid = int(os.environ[LAUNCHER_PID_ENV])
        watch(lambda: launcher_alive(launcher_pid), LAUNCHER_ENDED)


def launcher_alive(launcher_pid):
    """Whether the launcher is this process's parent, or a live process of that id older than it."""
    if os.getppid() == launcher_pid:
        return True
    with contextlib.suppress(psutil.NoSuchProcess):
        launcher = psutil.Process(launcher_pid)
        started_first = launcher.create_time() <= psutil.Process().create_time()
        return started_first and launcher.status() != psutil.STATUS_ZOMBIE
    return False


def watch(is_alive, reason):
    """Stops this worker once `is_alive()` is false: now, at exit (loky's end on their own once
    their owner is gone), or from a thread, which needs the store's modules loaded first."""
    if not is_alive():
        _stop(reason)
    if _watching.is_set():
        return
    _watching.set()
    if os.environ.get("MLFLOW_TRACKING_URI"):
        with contextlib.suppress(Exception):  # a job meets a broken store itself, and says so
            close_orphaned_runs([], reason)
    atexit.register(lambda: is_alive() or _stop(reason))

    def check_forever():
        while is_alive():
            time.sleep(1)
        _stop(reason)

    threading.Thread(target=check_forever, daemon=True).start()


def _stop(reason):
    """Kills this process's children, closes their runs, its own and a lost parent, exits 1."""
    with _stopping:  # the watch and a job's start may both find the owner gone: one stops
        try:
            children = psutil.Process().children()
            for child in children:  # killed, and left for their `Popen` to reap
                with contextlib.suppress(psutil.NoSuchProcess, ChildProcessError):
                    child.kill()
                    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
            close_orphaned_runs([os.getpid(), *(child.pid for child in children)], reason)
        finally:
            print(f"error: {reason}: this worker stops", file=sys.stderr, flush=True)
            os._exit(1)


def close_orphaned_runs(pids, reason):
    """Ends FAILED this host's RUNNING runs of processes `pids`, and the sweep's lost parent."""
    pids = {str(pid) for pid in pids}
    host = f"tags.{lifecycle.HOST_TAG} = '{socket.gethostname()}'"
    for run in mlflow.search_runs(
        search_all_experiments=True,
        filter_string=f"attributes.status = 'RUNNING' and {host}",
        output_format="list",
    ):
        tags, run_id = run.data.tags, run.info.run_id
        mine = tags.get(lifecycle.PID_TAG) in pids
        if mine or (run_id == os.environ.get(PARENT_RUN_ENV) and lifecycle.is_lost(tags)):
            lifecycle.fail_run(run_id, reason if mine else LAUNCHER_ENDED)
