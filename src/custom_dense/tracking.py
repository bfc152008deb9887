"""MLflow bookkeeping of a job: store, params, tags, artifacts, the model, failures."""

import contextlib
import fcntl
import importlib.metadata
import os
import pathlib
import subprocess
import urllib.parse

import keras
import mlflow
import requests
import tensorflow as tf
from mlflow.models import infer_signature
from omegaconf import OmegaConf

from custom_dense.errors import TrackingServerUnreachableError

FAILURE_TAG = "failure_reason"
_PACKAGE_DIR = pathlib.Path(__file__).resolve().parent
_MODEL_REQUIREMENTS = ("keras", "numpy", "mlflow")
# MLflow retries an unreachable server for minutes; one health check says it at once.
_HEALTH_TIMEOUT_S = 5.0


def configure_tracking(mlflow_cfg, adopted_run_id=None):
    """Points MLflow at the configured store and experiment; returns the experiment id.

    `mlflow.tracking_uri` wins over `$MLFLOW_TRACKING_URI`; with neither,
    MLflow's default applies (`sqlite:///mlflow.db` in the working folder). A
    tracking server must answer at once, and a SQLite store is created (or
    migrated) by one process at a time.

    Args:
        mlflow_cfg: The `mlflow` config.
        adopted_run_id: A run that already exists for this work (a sweep's
            parent, or the run `mlflow run` opened): its experiment is used
            instead of `mlflow.experiment_name`.

    Raises:
        TrackingServerUnreachableError: No server answers at an HTTP(S) URI.
    """
    if mlflow_cfg.tracking_uri:
        mlflow.set_tracking_uri(mlflow_cfg.tracking_uri)
    check_tracking_server(mlflow_cfg)
    with _sqlite_store_lock(mlflow.get_tracking_uri()):
        if adopted_run_id:
            experiment_id = mlflow.get_run(adopted_run_id).info.experiment_id
            return mlflow.set_experiment(experiment_id=experiment_id).experiment_id
        return mlflow.set_experiment(mlflow_cfg.experiment_name).experiment_id


def check_tracking_server(mlflow_cfg):
    """Raises `TrackingServerUnreachableError` unless an MLflow server answers at the URI.

    One request to the server's `/health` endpoint (5 s at most) stands in for
    MLflow's own retries, which take minutes to give up. A server that asks
    for credentials (HTTP 401 or 403) passes; stores that are not HTTP(S)
    servers pass.

    Args:
        mlflow_cfg: The `mlflow` config; its `tracking_uri`, else
            `$MLFLOW_TRACKING_URI`, names the store.
    """
    uri = mlflow_cfg.tracking_uri or mlflow.get_tracking_uri()
    key = "mlflow.tracking_uri" if mlflow_cfg.tracking_uri else "MLFLOW_TRACKING_URI"
    if urllib.parse.urlsplit(uri).scheme not in ("http", "https"):
        return
    try:
        response = requests.get(f"{uri.rstrip('/')}/health", timeout=_HEALTH_TIMEOUT_S)
    except requests.Timeout:
        reason = f"no answer within {_HEALTH_TIMEOUT_S:g} s"
    except requests.RequestException:
        reason = "could not connect"
    else:
        if response.status_code in (200, 401, 403):
            return
        reason = f"GET /health answered HTTP {response.status_code}"
    raise TrackingServerUnreachableError(key, uri, f"a running MLflow tracking server ({reason})")


@contextlib.contextmanager
def _sqlite_store_lock(uri):
    """Holds an exclusive lock on a SQLite store's folder; does nothing for other stores.

    MLflow creates and migrates the schema when a process first opens the
    store, and `set_experiment` creates a missing experiment: two processes
    doing either at once leave the database broken or fail. Later writes are
    safe without the lock: MLflow waits up to 20 s for SQLite's write lock.
    """
    path = uri.removeprefix("sqlite:///")
    if not uri.startswith("sqlite:///") or path in ("", ":memory:"):
        yield
        return
    folder = pathlib.Path(path).resolve().parent
    folder.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def flatten_config(cfg):
    """Returns the resolved config as `{dotted.key: value}`, e.g. `model.units`."""
    flat = {}

    def walk(node, prefix):
        for key, value in node.items():
            dotted = f"{prefix}{key}"
            if isinstance(value, dict):
                walk(value, f"{dotted}.")
            else:
                flat[dotted] = value

    walk(OmegaConf.to_container(cfg, resolve=True), "")
    return flat


def environment_tags(layer, placement):
    """Tags that say what ran where: implementation, device, versions, code state."""
    commit, dirty = git_state()
    return {
        "layer_impl": layer,
        "device": placement.kind,
        "device_name": placement.name,
        "tf_version": tf.__version__,
        "keras_version": keras.__version__,
        "git_commit": commit,
        "git_dirty": dirty,
    }


def git_state():
    """Returns `(commit, "true"|"false")` for the working folder, or `("unknown", "unknown")`."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown", "unknown"
    return commit, str(bool(status.strip())).lower()


def log_job_artifacts(cfg, overrides, model):
    """Logs the resolved config, the overrides and the model summary as files."""
    mlflow.log_text(OmegaConf.to_yaml(cfg, resolve=True), "config.yaml")
    mlflow.log_text(OmegaConf.to_yaml(list(overrides)), "overrides.yaml")
    lines = []
    model.summary(print_fn=lambda line, **_: lines.append(line))
    mlflow.log_text("\n".join(lines), "model_summary.txt")


def model_requirements():
    """Pinned pip requirements of a logged model, from this environment's versions."""
    tensorflow = "tensorflow-cpu" if _installed("tensorflow-cpu") else "tensorflow"
    return [
        f"{name}=={importlib.metadata.version(name)}" for name in (tensorflow, *_MODEL_REQUIREMENTS)
    ]


def log_model(model, sample_inputs):
    """Logs a Keras model as `model`, with a signature, pinned requirements and this package.

    Giving the signature and requirements up front skips MLflow's inference of
    both (seconds per model). The package's code travels with the model, so a
    process without custom_dense installed can load and serve it.

    Args:
        model: The trained Keras model.
        sample_inputs: A small float32 numpy batch, for the signature.

    Returns:
        The logged model's `ModelInfo`.
    """
    signature = infer_signature(sample_inputs, model(sample_inputs, training=False).numpy())
    return mlflow.tensorflow.log_model(
        model,
        name="model",
        signature=signature,
        pip_requirements=model_requirements(),
        code_paths=[str(_PACKAGE_DIR)],
    )


def tag_failure(run_id, reason):
    """Records why a run failed in its `failure_reason` tag (cut to MLflow's tag size)."""
    mlflow.MlflowClient().set_tag(run_id, FAILURE_TAG, reason[:5000])


def fail_run(run_id, reason):
    """Marks a run FAILED with the reason as the `failure_reason` tag."""
    tag_failure(run_id, reason)
    mlflow.MlflowClient().set_terminated(run_id, status="FAILED")


def _installed(distribution):
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True
