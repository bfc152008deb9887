"""`custom-dense-train [overrides]`: one training job, or a sweep with `-m`."""

from custom_dense_lab.config.print_only import answer_print_only

answer_print_only(__file__)  # `--help`, `--cfg job`, ...: at once, before TensorFlow loads

from custom_dense_lab.process.startup import quiet_start

quiet_start(import_tensorflow=False)  # TensorFlow loads once the command line is checked


import contextlib
import gc
import os
import secrets
import sys
import time

import mlflow
from hydra.errors import CompactHydraException
from omegaconf import OmegaConf

from custom_dense_lab.config import CONFIG_DIR, command_line
from custom_dense_lab.config.compose import compose_command_line
from custom_dense_lab.config.help import register_help_resolver
from custom_dense_lab.config.schema import register_schemas
from custom_dense_lab.config.validation import validate_keras_names
from custom_dense_lab.errors import ConfigError, Interrupted, StorageFullError
from custom_dense_lab.process import signals
from custom_dense_lab.sweep import finish
from custom_dense_lab.tracking import disk, lifecycle, store

# The sweep folder's name (see `hydra.sweep.dir` in conf/config.yaml), passed to every job.
SWEEP_ID_ENV = "CUSTOM_DENSE_SWEEP_ID"
AFTER_THE_WORK = "after the work had ended: every run keeps the state it ended in"


def main(argv=None):
    """Checks the command line, then runs the Hydra application.

    Exits 2 with one line for bad input, before any job runs; 1 if a job failed;
    130 or 143 when SIGINT or SIGTERM stopped it, at any moment until the process
    ends: while a run is open, it ends KILLED (and the open sweep with it); before
    the first run or after the last one ended, the runs stay as they are.
    """
    signals.take_stops_to_the_end(AFTER_THE_WORK)
    try:
        _run(argv)
    except SystemExit as end:
        signals.exit_with(end.code)
        raise
    signals.exit_with(0)


def _run(argv):
    gc.freeze()  # what this program's imports made lives as long as the process (see startup)
    args = command_line.normalize(sys.argv[1:] if argv is None else argv)
    register_help_resolver()  # `main(["--help"])` reaches Hydra's help from here
    os.environ[SWEEP_ID_ENV] = f"{time.strftime('%Y-%m-%d/%H-%M-%S')}-{secrets.token_hex(3)}"
    register_schemas()
    configs = _check_command_line(args) if command_line.runs_jobs(args) else []
    from custom_dense_lab.training import task  # TensorFlow loads here, quietly

    try:
        for cfg in configs:
            validate_keras_names(cfg)
    except ConfigError as error:
        _reject(error)
    # Hydra passes errors on instead of printing them: a full disk is said here, in one line.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    # From here on runs may be open: a stop ends them KILLED. Until here, it ends the process
    # at once, with one line (see `quiet_start`).
    signals.raise_on_stop_signals()
    try:
        with _hydra_argv(args):
            task.hydra_app()
        signals.raise_if_stopped()  # a stop that a library caught and dropped
    except (Interrupted, KeyboardInterrupt) as stop:
        interrupted = Interrupted.from_exception(stop)
        with signals.stops_deferred():  # a second Ctrl-C must not cut the closing short
            finish.finish_sweep(interrupted=interrupted)
        print(f"error: {interrupted}{task.state_of_finished_job()}", file=sys.stderr)
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


def _check_command_line(args):
    """Checks the configs and the tracking store before TensorFlow loads; exits at the first problem.

    Exits 2 with one line for bad input, 1 for a disk too full to start a job.

    Returns:
        The jobs' configs, whose Keras names are still to check.
    """
    try:
        configs = compose_command_line(args, CONFIG_DIR)
        _check_output_folder(configs[0], any(arg in command_line.MULTIRUN_FLAGS for arg in args))
        tracking = configs[0].mlflow
        project_run = mlflow.environment_variables.MLFLOW_RUN_ID.get()
        new_store = store.missing_sqlite_file(tracking.tracking_uri)
        if new_store and not project_run:  # before its Default experiment gets a folder
            store.check_artifact_location(tracking.experiment_name, tracking.tracking_uri)
        store.use_store(tracking.tracking_uri)
        disk.check_free_space()
        if project_run:
            store.check_project_run(project_run)
        else:
            store.check_experiment(tracking.experiment_name)
            store.check_artifact_location(tracking.experiment_name)
    except ConfigError as error:
        _reject(error)
    except StorageFullError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    return configs


def _check_output_folder(cfg, multirun):
    """Raises `ConfigError` unless this process can write the folder Hydra gives the job or sweep."""
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    folder = OmegaConf.select(cfg, key)
    problem = disk.write_problem(folder)
    if problem:
        raise ConfigError(key, folder, f"a folder this process can write ({problem})")


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
