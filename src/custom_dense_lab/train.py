"""`custom-dense-train [overrides]`: one training job, or a sweep with `-m`."""

from custom_dense_lab.config.command_line import answer_print_only
from custom_dense_lab.process.startup import quiet_start

answer_print_only(__file__)  # `--help`, `--cfg job`, ...: at once, before TensorFlow loads
quiet_start(import_tensorflow=False)  # TensorFlow loads once the command line is checked

from custom_dense_lab.sweep import parent

parent.watch_launcher()  # a joblib worker runs this module first: watched from its start

import contextlib
import gc
import os
import sys
import time

from hydra.errors import CompactHydraException
from omegaconf import OmegaConf

from custom_dense_lab.config import CONFIG_DIR, command_line
from custom_dense_lab.config.validation import compose_command_line, validate_keras_names
from custom_dense_lab.errors import ConfigError, Interrupted, StorageFullError
from custom_dense_lab.process import signals
from custom_dense_lab.sweep.callback import finish_sweep
from custom_dense_lab.tracking import disk, lifecycle, store

AFTER_THE_WORK = "after the work had ended: every run keeps the state it ended in"


def main(argv=None):
    """Exits 2 for bad input (one line, before any job), 1 if a job failed, 130/143 if stopped."""
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
    command_line.register_with_hydra()  # the help's resolver too: `main(["--help"])` is Hydra's
    os.environ["CUSTOM_DENSE_SWEEP_ID"] = time.strftime("%Y-%m-%d/%H-%M-%S-") + os.urandom(3).hex()
    if not command_line.prints_only(parsed := command_line.read(args)):
        project_run = os.environ.get("MLFLOW_RUN_ID")  # the run `mlflow run` opened, if any
        try:  # the run folder, the store, then the Keras names: a new SQLite store once they pass
            configs = compose_command_line(args, CONFIG_DIR)
            key = "hydra.sweep.dir" if parsed.multirun else "hydra.run.dir"
            if problem := disk.write_problem(folder := OmegaConf.select(configs[0], key)):
                raise ConfigError(key, folder, f"a folder this process can write ({problem})")
            tracking = configs[0].mlflow
            if new_store := not project_run and store.missing_sqlite_file(tracking.tracking_uri):
                store.check_artifact_location(tracking.experiment_name, tracking.tracking_uri)
            else:
                store.use_store(tracking.tracking_uri)
                if project_run:
                    store.check_project_run(project_run)
                else:
                    store.check_experiment(tracking.experiment_name)
                    store.check_artifact_location(tracking.experiment_name)
            from custom_dense_lab.training import task  # TensorFlow loads here, quietly

            for cfg in configs:  # each distinct name once
                validate_keras_names(cfg)
            if new_store:  # created once the names pass
                store.use_store(tracking.tracking_uri)
            disk.check_free_space()
        except (ConfigError, StorageFullError) as error:  # the run `mlflow run` opened ends FAILED
            print(f"error: {error}", file=sys.stderr)
            with contextlib.suppress(Exception):  # the store itself may be what it is about
                if project_run and store.project_run_problem(project_run) is None:
                    lifecycle.fail_run(project_run, str(error))
            sys.exit(2 if isinstance(error, ConfigError) else 1)
    from custom_dense_lab.training import task  # if not yet loaded for the names

    os.environ["HYDRA_FULL_ERROR"] = "1"  # errors passed on, not printed: a full disk said here
    signals.raise_on_stop_signals()  # from here a stop ends the open runs KILLED, not the process
    sys.argv = [sys.argv[0], *args]  # Hydra reads its command line from `sys.argv`
    try:
        task.hydra_app()
        signals.raise_if_stopped()  # a stop that a library caught and dropped
    except (Interrupted, KeyboardInterrupt) as stop:
        interrupted = Interrupted.from_exception(stop)
        with signals.stops_deferred():  # a second Ctrl-C must not cut the closing short
            finish_sweep(interrupted=interrupted)
        print(f"error: {interrupted}{task.state_of_finished_job()}", file=sys.stderr)
        sys.exit(interrupted.exit_status)
    except SystemExit as stop:
        if stop.code:
            finish_sweep(abort_reason=f"the sweep stopped early (exit status {stop.code})")
        raise
    except (StorageFullError, Exception) as error:  # Hydra's one-line errors as Hydra prints them
        shown = isinstance(error, StorageFullError | CompactHydraException)
        said = error if shown else disk.storage_failure(error)
        finish_sweep(abort_reason=f"the sweep stopped: {said or lifecycle.describe_error(error)}")
        if said is None:
            raise
        print(f"error: {said}", file=sys.stderr)
        sys.exit(1)
    finally:
        signals.exit_on_stop_signals(AFTER_THE_WORK)


if __name__ == "__main__":  # the module's `main`, not `__main__`'s: a sweep's workers import it
    from custom_dense_lab.train import main as run_program

    run_program()
