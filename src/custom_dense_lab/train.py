"""`custom-dense-train [overrides]`: one training job, or a sweep with `-m`."""

from custom_dense_lab.config.print_only import answer_print_only

answer_print_only(__file__)  # `--help`, `--cfg job`, ...: at once, before TensorFlow loads

from custom_dense_lab.process.startup import quiet_start

quiet_start()


import contextlib
import gc
import os
import secrets
import sys
import time

import hydra
import mlflow
import tensorflow_datasets as tfds
from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException
from hydra.types import RunMode

from custom_dense_lab.config import CONFIG_DIR, command_line
from custom_dense_lab.config.compose import check_command_line
from custom_dense_lab.config.help import register_help_resolver
from custom_dense_lab.config.schema import register_schemas
from custom_dense_lab.errors import (
    ConfigError,
    Interrupted,
    JobInterruptedError,
    StorageFullError,
)
from custom_dense_lab.process import backends, signals
from custom_dense_lab.process.worker_threads import worker_thread_settings
from custom_dense_lab.sweep import finish, launcher_watch, parent
from custom_dense_lab.tracking import disk, lifecycle, store
from custom_dense_lab.training.job import run_job

# The sweep folder's name (see `hydra.sweep.dir` in conf/config.yaml), passed to every job.
SWEEP_ID_ENV = "CUSTOM_DENSE_SWEEP_ID"
AFTER_THE_JOB = "after the job had finished: its run stays FINISHED"
AFTER_THE_WORK = "after the work had ended: every run keeps the state it ended in"


def run_task(cfg):
    """Hydra's task function: runs one job; a failed single job ends the process with status 1.

    It stays undecorated at module level, so that a sweep's worker processes
    (joblib, submitit) unpickle it by reference, importing this module, and so
    start as quietly as the launching process.
    """
    signals.raise_on_stop_signals()  # again: in a sweep's worker process, this is the entry point
    hydra_cfg = HydraConfig.get()
    in_sweep = hydra_cfg.mode == RunMode.MULTIRUN
    parent_run = parent.parent_run_id(hydra_cfg.sweep.dir) if in_sweep else None
    if parent.in_worker_process():
        launcher_watch.watch_launcher(parent.launcher_pid(), parent_run)
    try:
        disk.check_free_space(_written_folders())
        metrics = _run_job_on_disk(cfg, list(hydra_cfg.overrides.task), in_sweep, parent_run)
    except Interrupted as stop:
        if parent.in_worker_process():  # the launcher records an Exception, not a BaseException
            raise JobInterruptedError(str(stop)) from None
        raise
    except StorageFullError as error:
        if not parent.in_worker_process():
            raise
        # The launcher counts the job as failed, and this worker takes the next one, if any.
        print(f"error: {error}", file=sys.stderr, flush=True)
        metrics = None
    except backends.BackendWorkerError as error:  # its run, if it has one, is closed as lost
        print(f"error: {error}", file=sys.stderr, flush=True)
        metrics = None
    if metrics is None:
        if not in_sweep:
            raise SystemExit(1)
        return None
    if not in_sweep:
        signals.exit_on_stop_signals(AFTER_THE_JOB)
    return metrics["val_accuracy"]


_hydra_app = hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")(
    run_task
)


def main(argv=None):
    """Checks the command line, then runs the Hydra application.

    Exits 2 with one line for bad input, before any job runs; 1 if a job failed;
    130 or 143 when SIGINT or SIGTERM stopped it, at any moment: while a run is
    open, it ends KILLED (and the open sweep with it); before the first run or
    after the last one ended, the runs stay as they are.
    """
    gc.freeze()  # what this program's imports made lives as long as the process (see startup)
    args = command_line.normalize(sys.argv[1:] if argv is None else argv)
    register_help_resolver()  # `main(["--help"])` reaches Hydra's help from here
    os.environ[SWEEP_ID_ENV] = f"{time.strftime('%Y-%m-%d/%H-%M-%S')}-{secrets.token_hex(3)}"
    tfds.disable_progress_bar()
    register_schemas()
    if command_line.runs_jobs(args):
        try:
            shared = check_command_line(args, CONFIG_DIR)
            cores = len(os.sched_getaffinity(0))
            overrides = command_line.overrides_of(args)
            os.environ.update(worker_thread_settings(overrides, cores, os.environ))
            store.use_store(shared.mlflow.tracking_uri)
            disk.check_free_space(_written_folders())
            project_run = mlflow.environment_variables.MLFLOW_RUN_ID.get()
            if project_run:
                store.check_project_run(project_run)
            else:
                store.check_experiment(shared.mlflow.experiment_name)
        except ConfigError as error:
            _reject(error)
        except StorageFullError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(1)
    # Hydra passes errors on instead of printing them: a full disk is said here, in one line.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    # From here on runs may be open: a stop ends them KILLED. Until here, it ends the process
    # at once, with one line (see `quiet_start`).
    signals.raise_on_stop_signals()
    try:
        with _hydra_argv(args):
            _hydra_app()
        signals.raise_if_stopped()  # a stop that a library caught and dropped
    except (Interrupted, KeyboardInterrupt) as stop:
        interrupted = Interrupted.from_exception(stop)
        with signals.stops_deferred():  # a second Ctrl-C must not cut the closing short
            finish.finish_sweep(interrupted=interrupted)
        print(f"error: {interrupted}{_state_of_finished_job()}", file=sys.stderr)
        sys.exit(interrupted.exit_status)
    except SystemExit as stop:
        if stop.code:
            finish.finish_sweep(abort_reason=f"the sweep stopped early (exit status {stop.code})")
        raise
    except CompactHydraException as error:  # Hydra's one-line errors, as Hydra prints them
        finish.finish_sweep(abort_reason=f"the sweep stopped: {error}")
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except (StorageFullError, Exception) as error:
        storage = error if isinstance(error, StorageFullError) else disk.storage_failure(error)
        reason = str(storage) if storage else lifecycle.describe_error(error)
        finish.finish_sweep(abort_reason=f"the sweep stopped: {reason}")
        if storage is None:
            raise
        print(f"error: {storage}", file=sys.stderr)
        sys.exit(1)
    finally:
        signals.exit_on_stop_signals(AFTER_THE_WORK)


def _run_job_on_disk(cfg, overrides, in_sweep, parent_run):
    """`run_job` on the job's Keras backend, with a full disk met before its run existed raised as `StorageFullError`.

    A job of another backend than this process's runs in a worker process of
    its backend (see `process.backends`).
    """
    try:
        return backends.run_in_backend(
            cfg.backend.value, run_job, cfg, list(overrides), in_sweep, parent_run
        )
    except Exception as error:
        storage = disk.storage_failure(error)
        if storage is None:
            raise
        raise storage from None


def _written_folders():
    """The folders a job writes to: the working folder (outputs, artifacts) and a SQLite store's."""
    database = disk.sqlite_store_path()
    return [os.getcwd()] if database is None else [os.getcwd(), database.parent]


def _state_of_finished_job():
    """`" after the job had finished..."` when the stop came after this process's job ended FINISHED."""
    with contextlib.suppress(Exception):  # the store may be what stopped the job
        run = mlflow.last_active_run()
        single_job = run is not None and "mlflow.parentRunId" not in run.data.tags
        if single_job and run.info.status == "FINISHED":
            return f" {AFTER_THE_JOB}"
    return ""


@contextlib.contextmanager
def _hydra_argv(args):
    """Hands `args` to Hydra, which reads its command line from `sys.argv`."""
    saved = sys.argv
    sys.argv = [saved[0], *args]
    try:
        yield
    finally:
        sys.argv = saved


def _reject(error):
    """Prints one line, marks the run `mlflow run` opened for this program FAILED, exits 2.

    A run in `$MLFLOW_RUN_ID` that is not this program's (see
    `store.check_project_run`) is left as it is.
    """
    print(f"error: {error}", file=sys.stderr)
    project_run = mlflow.environment_variables.MLFLOW_RUN_ID.get()
    with contextlib.suppress(Exception):  # the store itself may be what the error is about
        if project_run and store.project_run_problem(project_run) is None:
            lifecycle.fail_run(project_run, str(error))
    sys.exit(2)


if __name__ == "__main__":
    # `python -m` runs this file as `__main__`: run the program from its module instead, so
    # that a sweep's worker processes unpickle `run_task` by reference, importing this module
    # and so starting as quietly as this process.
    from custom_dense_lab.train import main as run_program

    run_program()
