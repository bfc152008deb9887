"""Fixtures of the whole suite: process state put back, one TFDS folder, the checkout untouched.

The folders mirror the code: `library/` (the layer; Keras only), `lab/` (the lab,
in this process) and `e2e/` (subprocesses, servers, `mlflow run`: all `slow`).
"""

import contextlib
import gc
import os
from pathlib import Path

import pytest
from helpers import REPO_ROOT, RUN_LEFTOVERS, kept_process_state

# submitit configures logging when first imported (`logging.config.dictConfig`), which closes
# every handler there is: absl's would close the stream it was made with, pytest's capture of
# this session. Imported first, before any module of the suite makes a handler.
with contextlib.suppress(ModuleNotFoundError):  # the library's tests run without the lab
    import submitit  # noqa: F401

E2E_DIR = Path(__file__).parent / "e2e"
_LOG_LEVEL_KEY = "TF_CPP_MIN_LOG_LEVEL"
# TensorFlow's C++ logs quiet here and in every subprocess (`pytest_unconfigure` undoes it), set
# as this file loads: before anything imports Keras, which imports JAX, which sets its own
# default of 1.
_saved_log_level = os.environ.get(_LOG_LEVEL_KEY)
os.environ.setdefault(_LOG_LEVEL_KEY, "3")


def _import_keras_quietly():
    """Imports Keras and its backend with file descriptor 2 sent to /dev/null.

    TensorFlow's runtime writes notes there as it loads, whatever the log level
    (see `custom_dense_lab.process.startup`). pytest captures them in its own
    process, not in the workers of `pytest -n`, which import it as they collect.
    Python's cyclic collector pauses meanwhile, as in the lab's programs.
    """
    saved = os.dup(2)
    gc.disable()
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import keras  # noqa: F401
    finally:
        gc.enable()
        os.dup2(saved, 2)
        os.close(saved)


def pytest_configure(config):
    # The controller of `pytest -n N` runs no test and imports no test module: it starts
    # its workers seconds sooner without Keras.
    if os.environ.get("PYTEST_XDIST_WORKER") or not config.getoption("numprocesses", None):
        _import_keras_quietly()


def pytest_unconfigure(config):
    if _saved_log_level is None:
        os.environ.pop(_LOG_LEVEL_KEY, None)
    else:
        os.environ[_LOG_LEVEL_KEY] = _saved_log_level


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Everything under tests/e2e is `slow`, whether or not its module says so."""
    for item in items:
        if E2E_DIR in Path(item.path).parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def _checkout_untouched():
    """Fails the session if a test left run outputs (multirun/, mlruns/, ...) in the checkout."""
    before = {name for name in RUN_LEFTOVERS if (REPO_ROOT / name).exists()}
    yield
    after = {name for name in RUN_LEFTOVERS if (REPO_ROOT / name).exists()}
    assert after <= before, f"tests wrote {sorted(after - before)} into {REPO_ROOT}"


@pytest.fixture(scope="session", autouse=True)
def _tfds_data_dir(tmp_path_factory):
    """Keeps prepared TFDS data in one temporary folder for the session and its subprocesses."""
    folder = tmp_path_factory.mktemp("tensorflow_datasets")
    with kept_process_state():
        os.environ["TFDS_DATA_DIR"] = str(folder)
        yield folder


@pytest.fixture(scope="session")
def prepared_digits(_tfds_data_dir):
    """Prepares the digits dataset once, before any job of the session runs.

    No job then pays for preparing it, nor depends on whether an earlier test
    did (tests/lab/training/test_job.py::test_preparing_the_data_* checks that
    it makes no difference).
    """
    from types import SimpleNamespace

    from custom_dense_lab.data import load_dataset

    config = SimpleNamespace(name="digits", data_dir=None, download=True, val_fraction=0.1)
    load_dataset(config, batch_size=64, seed=0)
    return _tfds_data_dir


@pytest.fixture(autouse=True)
def _process_state_kept():
    """Every test leaves os.environ, the working folder and MLflow's globals as it found them."""
    with kept_process_state():
        yield
