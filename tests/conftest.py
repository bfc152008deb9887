"""Shared fixtures. TensorFlow is imported once per test session."""

import os
import socket
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Gives every test a clean Keras session and the float32 policy."""
    keras.backend.clear_session()
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")


def run_python(code, cwd, env=None, timeout=300):
    """Runs `code` in a fresh Python process and returns the completed process."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session", autouse=True)
def _tfds_data_dir(tmp_path_factory):
    """Keeps prepared TFDS data in one temporary folder for the whole session."""
    folder = tmp_path_factory.mktemp("tensorflow_datasets")
    previous = os.environ.get("TFDS_DATA_DIR")
    os.environ["TFDS_DATA_DIR"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("TFDS_DATA_DIR")
    else:
        os.environ["TFDS_DATA_DIR"] = previous


@pytest.fixture
def tracking_uri(tmp_path, monkeypatch):
    """A fresh SQLite tracking store, also exported to subprocesses."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    import mlflow

    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.set_tracking_uri(None)


def run_module(module, *args, cwd, env=None, timeout=600):
    """Runs `python -m module args...` in a fresh process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def compose_config(*overrides, with_hydra=False):
    """Composes the project's config in this process, as `python -m custom_dense.train` would."""
    from hydra import compose, initialize_config_dir

    from custom_dense.schema import register_schemas
    from custom_dense.train import CONFIG_DIR

    register_schemas()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(
            config_name="config", overrides=list(overrides), return_hydra_config=with_hydra
        )
