"""The lab's tests, in this process: config, data, jobs, tracking, benchmark, reports.

Every test works in its own temporary folder (MLflow puts a SQLite store's
artifacts in `./mlruns` of the working folder), and finds the digits dataset
prepared. Tests that log share one store, each in an experiment of its own.
"""

import dataclasses
import itertools
import re

import keras
import mlflow
import pytest
from helpers import sqlite_uri, using_store
from tensorflow.python.framework.config import disable_op_determinism, is_op_determinism_enabled

import custom_dense_lab.config.schema  # noqa: F401  registers the schemas with Hydra


@pytest.fixture(scope="session", autouse=True)
def _digits_prepared(prepared_digits):
    return prepared_digits


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _job_settings_put_back():
    """Puts back the dtype policy and op determinism, which a job sets for itself."""
    policy = keras.config.dtype_policy()
    yield
    keras.config.set_dtype_policy(policy)
    if is_op_determinism_enabled():
        disable_op_determinism()


@pytest.fixture(scope="session")
def shared_store(tmp_path_factory):
    """One SQLite store for the session's in-process tests: its URI.

    MLflow builds a store object once per URI and keeps it (about a second:
    the tables, then a check of their schema); its artifacts go to the working
    folder of that moment, here the store's own folder.
    """
    folder = tmp_path_factory.mktemp("store")
    uri = sqlite_uri(folder)
    with using_store(uri, folder):
        mlflow.MlflowClient().search_experiments()
    return uri


@dataclasses.dataclass(frozen=True)
class Tracking:
    uri: str
    experiment: str  # this test's own experiment: what the test finds there, it logged


@pytest.fixture
def tracking(shared_store, request, monkeypatch):
    """The shared store, current in MLflow and exported to subprocesses, and an experiment name
    no other test uses."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shared_store)
    mlflow.set_tracking_uri(shared_store)
    name = re.sub(r"[^A-Za-z0-9_.]+", "-", request.node.name)  # a plain word for the overrides
    return Tracking(shared_store, f"{next(_experiment_numbers)}-{name}"[:200])


_experiment_numbers = itertools.count()
