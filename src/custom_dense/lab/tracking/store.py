"""Where runs are recorded: the tracking store, its health, and the experiment."""

import contextlib
import pathlib
import urllib.parse

import filelock
import mlflow
import requests

from custom_dense.lab.errors import TrackingServerUnreachableError
from custom_dense.lab.tracking import liveness

# MLflow retries an unreachable server for minutes; one health check says it at once.
_HEALTH_TIMEOUT_S = 5.0
_SQLITE_PREFIX = "sqlite:///"


def use_store(tracking_uri):
    """Points MLflow at a store and checks it answers; returns the URI in use.

    Args:
        tracking_uri: The configured store (`mlflow.tracking_uri`), or `None`
            for `$MLFLOW_TRACKING_URI`, else MLflow's default
            (`sqlite:///mlflow.db` in the working folder).

    Raises:
        TrackingServerUnreachableError: No MLflow server answers at an HTTP(S) URI.
    """
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    uri = mlflow.get_tracking_uri()
    check_tracking_server(uri, "mlflow.tracking_uri" if tracking_uri else "MLFLOW_TRACKING_URI")
    return uri


def open_experiment(experiment_name, adopted_run_id=None):
    """Makes an experiment the active one, creating it if needed; returns its id.

    A SQLite store is created (or migrated) and the experiment resolved by one
    process at a time, under a lock on the store's folder.

    Args:
        experiment_name: The experiment to use.
        adopted_run_id: A run that already exists for this work (a sweep's
            parent, or the run `mlflow run` opened): its experiment wins over
            `experiment_name`.

    Runs of the experiment left RUNNING by a process that is gone are closed
    FAILED on the way (see `liveness.close_lost_runs`).
    """
    with _sqlite_store_lock(mlflow.get_tracking_uri()):
        if adopted_run_id:
            experiment_id = mlflow.get_run(adopted_run_id).info.experiment_id
            experiment_id = mlflow.set_experiment(experiment_id=experiment_id).experiment_id
        else:
            experiment_id = mlflow.set_experiment(experiment_name).experiment_id
    liveness.close_lost_runs(experiment_id)
    return experiment_id


def check_tracking_server(uri, key="MLFLOW_TRACKING_URI"):
    """Raises `TrackingServerUnreachableError` unless an MLflow server answers at `uri`.

    One request to the server's `/health` endpoint (5 s at most) stands in for
    MLflow's own retries, which take minutes to give up. A server that asks
    for credentials (HTTP 401 or 403) passes; stores that are not HTTP(S)
    servers pass.

    Args:
        uri: The tracking URI.
        key: Where the URI came from, for the message.
    """
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
    """Holds an exclusive lock beside a SQLite store; does nothing for other stores.

    MLflow creates and migrates the schema when a process first opens the
    store, and `set_experiment` creates a missing experiment: two processes
    doing either at once leave the database broken or fail. Later writes are
    safe without the lock: MLflow waits up to 20 s for SQLite's write lock.
    """
    path = uri.removeprefix(_SQLITE_PREFIX)
    if not uri.startswith(_SQLITE_PREFIX) or path in ("", ":memory:"):
        yield
        return
    database = pathlib.Path(path).resolve()
    database.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(f"{database}.lock"):
        yield
