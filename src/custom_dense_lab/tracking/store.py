"""The tracking store, checked in one line and seconds before any job (MLflow itself retries an
unreachable server or database for minutes), then its experiment opened."""

import contextlib
import logging
import os
import pathlib
import shutil
import socket
import sqlite3
import tempfile
import urllib.parse

import filelock
import mlflow
import requests
from mlflow import environment_variables as env
from mlflow.exceptions import MlflowException
from mlflow.store.tracking import DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH

from custom_dense_lab.errors import ConfigError, TrackingServerUnreachableError
from custom_dense_lab.tracking import disk, lifecycle, ui


def use_store(tracking_uri, key="mlflow.tracking_uri"):
    """Points MLflow at `tracking_uri` (`None`: MLflow's default) once it passes every check, a new
    SQLite store created one process at a time; returns the URI. Errors name `key`."""
    key = "MLFLOW_TRACKING_URI" if not tracking_uri and env.MLFLOW_TRACKING_URI.defined else key
    uri = tracking_uri or mlflow.get_tracking_uri()
    check_server(uri, key)
    database = disk.sqlite_path(uri)
    if database is not None and (accepted := _sqlite_problem(database)):
        raise ConfigError(key, uri, accepted)
    with filelock.FileLock(f"{database}.lock") if database else contextlib.nullcontext():
        if database is not None and not database.exists():
            create_store(database)
        mlflow.set_tracking_uri(uri)
        try:  # the first use creates or migrates a database's schema
            mlflow.MlflowClient().search_experiments(max_results=1)
        except Exception as error:  # MLflow's (an unknown scheme), SQLAlchemy's or the driver's
            first_line = str(error).strip().splitlines()[0]
            unusable = ConfigError(key, uri, f"a usable tracking store ({first_line})")
            raise disk.storage_failure(error) or unusable from None
    return uri


def _sqlite_problem(database):
    if problem := disk.write_problem(database.parent):
        return f"a SQLite file in a folder this process can write ({problem})"
    if not database.exists():
        return None
    if not os.access(database, os.R_OK | os.W_OK):
        return f"a SQLite file this process can read and write ({database})"
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            found = [row[0] for row in db.execute("PRAGMA quick_check") if row[0] != "ok"]
    except sqlite3.DatabaseError as error:
        found = [str(error)]
    if found:
        found = f"{database}: {'; '.join(found[:3])}"
        return f"an intact SQLite database ({found}); move it aside to start a new store"


def missing_sqlite_file(tracking_uri):
    path = disk.sqlite_path(tracking_uri or mlflow.get_tracking_uri())
    return None if path is None or path.exists() else path


def check_experiment(experiment_name, key="mlflow.experiment_name"):
    experiment = mlflow.get_experiment_by_name(experiment_name)
    if experiment is not None and experiment.lifecycle_stage == "deleted":
        accepted = (
            "an experiment that is not deleted: restore it with `mlflow experiments restore "
            f"--experiment-id {experiment.experiment_id}`, delete it for good with `mlflow gc`, "
            "or choose another name"
        )
        raise ConfigError(key, experiment_name, accepted)


def check_project_run(run_id):
    """Raises `ConfigError` unless `$MLFLOW_RUN_ID` is a fresh run that `mlflow run` opened."""
    if problem := project_run_problem(run_id):
        accepted = "a RUNNING run that `mlflow run` opened and nothing has recorded into yet, not "
        remedy = "unset MLFLOW_RUN_ID (left from an earlier `mlflow run`?) and start again"
        raise ConfigError("MLFLOW_RUN_ID", run_id, f"{accepted}{problem}: {remedy}")


def check_artifact_location(name, tracking_uri=None):
    """Raises `ConfigError` unless this process can write the experiment's artifacts: at its
    artifact location, or a new one's in a store that is not a server, `./mlruns`."""
    uri = tracking_uri or mlflow.get_tracking_uri()
    experiment = None if missing_sqlite_file(uri) else mlflow.get_experiment_by_name(name)
    if experiment is None and urllib.parse.urlsplit(uri).scheme in ("http", "https", "databricks"):
        return  # the server decides where a new experiment's artifacts go
    location = experiment.artifact_location if experiment else DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH
    parts = urllib.parse.urlsplit(location)
    if problem := parts.scheme in ("", "file") and disk.write_problem(parts.path):
        where = "its artifact location" if experiment else "a new one keeps them in"
        remedy = "choose another name" if experiment else "run from a folder this process can write"
        where = f"{where} {pathlib.Path(parts.path).resolve()}: {problem}; {remedy}"
        accepted = f"an experiment whose artifacts this process can write ({where})"
        raise ConfigError("mlflow.experiment_name", name, accepted)


def project_run_problem(run_id):
    """Why `run_id` cannot be the run `mlflow run` opened for this program; `None` if it can be."""
    try:
        run = mlflow.MlflowClient().get_run(run_id)
    except MlflowException:
        return "a run this tracking store does not have"
    if run.info.lifecycle_stage == "deleted":
        return "a deleted run"
    if run.info.status != "RUNNING":
        return f"a {run.info.status} run"
    if lifecycle.PROJECT_ENTRY_POINT_TAG not in run.data.tags:
        return "a run that `mlflow run` did not start"
    if run.data.metrics or lifecycle.PID_TAG in run.data.tags:
        return "a run that a job or sweep already records into"
    return None


def open_experiment(experiment_name, adopted_run_id=None, housekeeping=True):
    """Makes the experiment (that of `adopted_run_id`, if given) active, created if needed."""
    adopted = adopted_run_id and mlflow.get_run(adopted_run_id).info.experiment_id
    experiment = mlflow.set_experiment(None if adopted else experiment_name, adopted or None)
    if housekeeping:
        ui.describe_experiment(experiment.experiment_id)
        lifecycle.close_lost_runs(experiment.experiment_id)
    return experiment.experiment_id


def check_server(uri, key="MLFLOW_TRACKING_URI"):
    """Raises unless an MLflow server answers an API search (asking for credentials passes), or a
    SQL store's database server a TCP connection (not a socket's, an ODBC source's)."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme in ("http", "https"):
        try:
            search = f"{uri.rstrip('/')}/api/2.0/mlflow/experiments/search?max_results=1"
            status = requests.get(search, timeout=5).status_code
        except requests.RequestException:
            status = None
        if status not in (200, 401, 403):
            reason = f"its REST API answered HTTP {status}" if status else "could not connect"
            accepted = f"a running MLflow tracking server ({reason})"
            raise TrackingServerUnreachableError(key, uri, accepted)
    dialect, _, driver = parts.scheme.partition("+")
    by_socket = {"host", "unix_socket"} & urllib.parse.parse_qs(parts.query).keys()
    ports = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}
    local = by_socket or driver == "pyodbc" or (dialect, parts.hostname) == ("mysql", "localhost")
    if local or dialect not in ports or not parts.hostname:
        return
    try:
        address = (parts.hostname, parts.port or ports[dialect])
    except ValueError:
        raise ConfigError(key, uri, "a database URI whose port is a number in [0, 65535]") from None
    try:
        socket.create_connection(address, timeout=5).close()
    except OSError as error:
        where = f"{address[0]}:{address[1]} ({error.strerror or type(error).__name__})"
        accepted = f"a database server that accepts connections at {where}"
        raise ConfigError(key, uri, accepted) from None


def create_store(database):
    """Creates `database` as a copy of an empty store MLflow built once per version, if it can."""
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    template = cache / "custom-dense" / f"mlflow-{mlflow.__version__}-empty.db"
    partial = database.with_name(f".{database.name}.partial")
    try:
        if not template.exists():
            template.parent.mkdir(parents=True, exist_ok=True)
            lock = filelock.FileLock(f"{template}.lock")
            with lock, tempfile.TemporaryDirectory(dir=template.parent) as folder:
                built = pathlib.Path(folder, "empty.db")  # new: MLflow keeps a store per URI
                if not template.exists():
                    mlflow.MlflowClient(f"sqlite:///{built}").search_experiments(max_results=1)
                    with contextlib.closing(sqlite3.connect(built)) as db, db:
                        db.execute("DELETE FROM experiments")  # a copy's MLflow adds its Default
                    os.replace(built, template)
        shutil.copyfile(template, partial)
        os.replace(partial, database)
    except OSError:
        partial.unlink(missing_ok=True)


def explain_http_retries():
    """Rewrites urllib3's two-line warning of each retry of MLflow's requests in one short line."""
    logging.getLogger("urllib3.connectionpool").addFilter(_retry_notice)


def _retry_notice(record):
    urllib3 = "Retrying (%r) after connection broken by '%r': %s"
    if record.msg == urllib3 and "/mlflow" in str(record.args[-1]):
        retry, error, _ = record.args
        retries = env.MLFLOW_HTTP_REQUEST_MAX_RETRIES.get()
        factor = env.MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR.get()
        # urllib3 waits `factor * 2 ** (n - 1)`, at most 120 s, before the n-th retry but the first.
        waits = sum(min(120.0, factor * 2 ** (n - 1)) for n in range(2, retries + 1))
        refused = "Connection refused" in str(error) or "NewConnectionError" in repr(error)
        cause = "connection refused" if refused else type(error).__name__
        record.msg = "MLflow tracking server unreachable (%s): retry %d of %d, giving up about %.0f s after the first failure"
        record.args = (cause, len(retry.history), retries, waits)
    return True
