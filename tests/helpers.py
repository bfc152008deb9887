"""Helpers shared by the test folders: processes, MLflow lookups, configs, process state.

Nothing here imports TensorFlow, MLflow or Hydra at module level: the library
tests (tests/library) import this module too and need only Keras.
"""

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import warnings
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# What the lab's programs leave in their working folder; none may appear in the checkout.
RUN_LEFTOVERS = ("multirun", "outputs", "mlruns", "mlartifacts", "mlflow.db")
# A sweep's paired timing in two short rounds: the path runs, the figures are rough.
QUICK_PAIR_TIMING = (
    "pair_timing.rounds=2",
    "pair_timing.max_rounds=2",
    "pair_timing.seconds_per_sample=0.01",
)
# Small jobs: what the tests need of a job is its record, not a good model.
FAST = ("trainer.epochs=2", "model.units=16", "model.depth=1", *QUICK_PAIR_TIMING)


def run_python(code, cwd, env=None, timeout=300):
    """Runs `code` in a fresh Python process in `cwd`; returns the completed process."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_module(module, *args, cwd, env=None, timeout=600):
    """Runs `python -m module args...` in a fresh process in `cwd`."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def venv_env(**extra):
    """The environment for a program of the venv that starts `python` from PATH (`mlflow run`)."""
    bin_dir = os.path.dirname(sys.executable)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", **extra}


def venv_program(name):
    return os.path.join(os.path.dirname(sys.executable), name)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sqlite_uri(folder):
    return f"sqlite:///{Path(folder) / 'mlflow.db'}"


def runs_of(parent_id):
    """The child runs of a parent run, in any experiment of the current store."""
    import mlflow

    return mlflow.search_runs(
        search_all_experiments=True,
        filter_string=f"tags.mlflow.parentRunId = '{parent_id}'",
        output_format="list",
    )


def sweep_parents():
    """Every sweep parent run of the current store."""
    import mlflow

    return mlflow.search_runs(
        search_all_experiments=True,
        filter_string="tags.`custom_dense.sweep` = 'true'",
        output_format="list",
    )


def runs_in(experiment):
    import mlflow

    return mlflow.search_runs(experiment_names=[experiment], output_format="list")


def compose_config(*overrides, with_hydra=False, config_dir=None):
    """Composes the project's config in this process, as `python -m custom_dense_lab.train` would.

    The schemas must be registered (importing `custom_dense_lab.config.schema` does it, as
    the lab's conftest does).
    """
    from hydra import compose, initialize_config_dir

    from custom_dense_lab.config import CONFIG_DIR

    with initialize_config_dir(config_dir=str(config_dir or CONFIG_DIR)):
        return compose(
            config_name="config", overrides=list(overrides), return_hydra_config=with_hydra
        )


@contextlib.contextmanager
def kept_process_state():
    """Puts back os.environ, the working folder, the stop signals' handlers and MLflow's state.

    MLflow keeps the tracking URI and the active experiment in module globals
    and copies both into os.environ (so that subprocesses inherit them); a run
    left active would swallow the next test's logging. The lab's programs
    handle SIGINT and SIGTERM their own way.
    """
    environ = dict(os.environ)
    cwd = os.getcwd()
    mlflow_state = _mlflow_state()
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        _restore_mlflow_state(mlflow_state)
        os.chdir(cwd)
        for key in set(os.environ) - set(environ):
            del os.environ[key]
        for key, value in environ.items():
            if os.environ.get(key) != value:
                os.environ[key] = value


def _mlflow_state():
    if "mlflow" not in sys.modules:
        return None
    from mlflow.tracking import _tracking_service, fluent

    return _tracking_service.utils._tracking_uri, fluent._active_experiment_id


def _restore_mlflow_state(state):
    if "mlflow" not in sys.modules:
        return
    import mlflow
    from mlflow.tracking import fluent

    while mlflow.active_run():
        mlflow.end_run()
    uri, experiment_id = state or (None, None)
    mlflow.set_tracking_uri(uri)
    fluent._active_experiment_id = experiment_id


@contextlib.contextmanager
def using_store(uri, folder=None):
    """MLflow pointed at `uri` (and working in `folder`, where a SQLite store puts artifacts)."""
    import mlflow

    with kept_process_state():
        if folder is not None:
            os.chdir(folder)
        mlflow.set_tracking_uri(uri)
        yield uri


_CLI_LOGGERS = ("tensorflow", "mlflow", "mlflow.store.db.utils", "optuna", "absl")


def import_cli(module):
    """Imports a program's module (`custom_dense_lab.train`, ...) here, undoing `quiet_start()`.

    `quiet_start()` runs when the module is first imported: it sets environment
    variables, warning filters, log levels and the collector's frozen objects
    for the whole process. All of them are put back here.
    """
    import atexit
    import gc
    import importlib

    levels = {name: logging.getLogger(name).level for name in _CLI_LOGGERS}
    import absl.logging

    verbosity = absl.logging.get_verbosity()
    with kept_process_state(), warnings.catch_warnings():
        loaded = importlib.import_module(module)
    absl.logging.set_verbosity(verbosity)
    gc.unfreeze()
    atexit.unregister(gc.freeze)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    return loaded


def copy_project(destination):
    """Copies what `mlflow run` and a build need of the project (no .git, venv, tests or results)."""
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    for name in ("MLproject", "conda.yaml", "pyproject.toml", "requirements.lock", "README.md"):
        shutil.copy2(REPO_ROOT / name, destination / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("src", "conf"):
        shutil.copytree(REPO_ROOT / name, destination / name, ignore=ignore)
    return destination


def wait_for_health(uri, server, log_path, timeout_s=120):
    """Waits until the `mlflow server` process `server` answers `GET <uri>/health` with 200."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert server.poll() is None, Path(log_path).read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"mlflow server did not answer /health in {timeout_s} s")


def wait_for_running_runs(uri, folder, count, process, timeout=120):
    """Waits until `count` runs of the store are RUNNING and have logged an epoch.

    Args:
        uri: The tracking store's URI.
        folder: The folder the store's relative paths are in.
        count: How many runs must train.
        process: The `subprocess.Popen` that runs them (its stdout and stderr piped):
            if it ends first, or the wait times out, the failure shows its stderr.
        timeout: Seconds to wait.
    """
    import time

    import mlflow

    from custom_dense_lab.tracking.disk import sqlite_path

    deadline = time.monotonic() + timeout
    database = sqlite_path(uri)
    with using_store(uri, folder):
        while time.monotonic() < deadline and process.poll() is None:
            if database is not None and not database.exists():
                time.sleep(0.5)  # the process creates the store: opening it here would race it
                continue
            running = mlflow.search_runs(
                search_all_experiments=True,
                filter_string="attributes.status = 'RUNNING'",
                output_format="list",
            )
            training = [run for run in running if "train_loss" in run.data.metrics]
            if len(training) >= count:
                return training
            time.sleep(0.5)
    state = "timed out" if process.poll() is None else f"exited {process.returncode}"
    process.kill()
    _, stderr = process.communicate(timeout=60)
    raise AssertionError(
        f"fewer than {count} runs started training ({state} after {timeout} s at most); "
        f"its stderr ends: {stderr[-3000:]}"
    )
