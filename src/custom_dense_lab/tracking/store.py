"""Where runs are recorded: the tracking store, its health, and the experiment."""

import contextlib
import os
import socket
import sqlite3
import urllib.parse

import filelock
import mlflow
import requests
from mlflow.exceptions import MlflowException

from custom_dense_lab.errors import ConfigError, TrackingServerUnreachableError
from custom_dense_lab.tracking import disk, lifecycle, sqlite_template, ui

# MLflow retries an unreachable server for minutes; the checks here say it at once.
_HEALTH_TIMEOUT_S = 5.0
_HEALTH_PATH = "/health"
_API_PROBE_PATH = "/api/2.0/mlflow/experiments/search?max_results=1"
# Creating or migrating a store takes seconds; a lock held this long is held by a stuck process.
_LOCK_TIMEOUT_S = 120.0
# The schemes MLflow 3 has tracking stores for ("" is a local path, as is file:).
_SUPPORTED_SCHEMES = {
    "",
    "file",
    "sqlite",
    "postgresql",
    "mysql",
    "mssql",
    "http",
    "https",
    "databricks",
}
# The database servers MLflow stores runs in, by URI dialect, with their default ports.
_DATABASE_PORTS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}
# Query keys of a database URI that point the driver at a local socket instead of a host.
_SOCKET_QUERY_KEYS = ("host", "unix_socket")
_SUPPORTED_TEXT = "sqlite:///path.db, postgresql://..., mysql://..., mssql://..., http(s)://server"


def use_store(tracking_uri):
    """Points MLflow at a store and checks that it can be used; returns the URI in use.

    Every check answers within seconds, where MLflow itself would retry for
    minutes or fail with a traceback: the URI's scheme, a SQLite file's folder
    and integrity, a tracking server's health and API. A new SQLite store is
    created here, by one process at a time, from a copy of an empty one
    (see `sqlite_template`).

    Args:
        tracking_uri: The configured store (`mlflow.tracking_uri`), or `None`
            for `$MLFLOW_TRACKING_URI`, else MLflow's default
            (`sqlite:///mlflow.db` in the working folder).

    Raises:
        ConfigError: The store cannot be used; the message says why.
        StorageFullError: Its disk is full or read-only.
    """
    from_environment = not tracking_uri and mlflow.environment_variables.MLFLOW_TRACKING_URI.defined
    key = "MLFLOW_TRACKING_URI" if from_environment else "mlflow.tracking_uri"
    uri = tracking_uri or mlflow.get_tracking_uri()
    scheme = urllib.parse.urlsplit(uri).scheme
    if scheme.partition("+")[0] not in _SUPPORTED_SCHEMES:  # a driver may follow: mysql+pymysql
        raise ConfigError(key, uri, f"a tracking store MLflow supports: {_SUPPORTED_TEXT}")
    check_tracking_server(uri, key)
    check_database_server(uri, key)
    _check_sqlite_folder(key, uri)
    with _sqlite_store_lock(uri):
        _check_sqlite_file(key, uri)
        _create_sqlite_file(uri)
        mlflow.set_tracking_uri(uri)
        try:  # the first use creates or migrates a database's schema
            mlflow.MlflowClient().search_experiments(max_results=1)
        except Exception as error:  # MLflow's, SQLAlchemy's or the database driver's
            storage = disk.storage_failure(error)
            if storage is not None:
                raise storage from None
            raise ConfigError(key, uri, f"a usable tracking store ({_first_line(error)})") from None
    return uri


def missing_sqlite_file(tracking_uri):
    """The path of the SQLite file `tracking_uri` names when there is none yet, else `None`.

    Args:
        tracking_uri: A tracking URI, or `None` for `$MLFLOW_TRACKING_URI`, else
            MLflow's default.
    """
    path = disk.sqlite_path(tracking_uri or mlflow.get_tracking_uri())
    return None if path is None or path.exists() else path


def check_experiment(experiment_name, key="mlflow.experiment_name"):
    """Raises `ConfigError` when the experiment exists but is deleted (MLflow will not use it).

    Args:
        experiment_name: The experiment's name.
        key: Where the name came from, for the message.
    """
    experiment = mlflow.get_experiment_by_name(experiment_name)
    if experiment is not None and experiment.lifecycle_stage == "deleted":
        raise ConfigError(
            key,
            experiment_name,
            "an experiment that is not deleted: restore it with `mlflow experiments restore "
            f"--experiment-id {experiment.experiment_id}`, delete it for good with `mlflow gc`, "
            "or choose another name",
        )


def check_project_run(run_id):
    """Raises `ConfigError` unless `run_id` is a run `mlflow run` opened for this program.

    `mlflow run` passes its run to the program in `$MLFLOW_RUN_ID`; the same
    variable left in a shell (from an earlier `mlflow run`, or a notebook)
    must not let a job reopen, rename or fail a run that holds other work.
    Only a RUNNING run that `mlflow run` started (it has its entry point tag)
    and that nothing has recorded into yet (no metrics, no job or sweep of
    this project) is adopted.
    """
    problem = project_run_problem(run_id)
    if problem:
        raise ConfigError(
            "MLFLOW_RUN_ID",
            run_id,
            "a RUNNING run that `mlflow run` opened and nothing has recorded into yet, not "
            f"{problem}: unset MLFLOW_RUN_ID (left from an earlier `mlflow run`?) and start again",
        )


def project_run_problem(run_id):
    """Why `run_id` cannot be the run `mlflow run` opened for this program; `None` if it can be."""
    try:
        run = mlflow.MlflowClient().get_run(run_id)
    except MlflowException:
        return "a run this tracking store does not have"
    tags = run.data.tags
    if run.info.lifecycle_stage == "deleted":
        return "a deleted run"
    if run.info.status != "RUNNING":
        return f"a {run.info.status} run"
    if lifecycle.PROJECT_ENTRY_POINT_TAG not in tags:
        return "a run that `mlflow run` did not start"
    if run.data.metrics or lifecycle.PID_TAG in tags:
        return "a run that a job or sweep already records into"
    return None


def open_experiment(experiment_name, adopted_run_id=None, housekeeping=True):
    """Makes an experiment the active one, creating it if needed; returns its id.

    A SQLite store is created (or migrated) and the experiment resolved by one
    process at a time, under a lock on the store's folder.

    Args:
        experiment_name: The experiment to use.
        adopted_run_id: A run that already exists for this work (a sweep's
            parent, or the run `mlflow run` opened): its experiment wins over
            `experiment_name`.
        housekeeping: Whether to close the experiment's lost runs and give it
            its description; a sweep's launching process does both once for
            all its jobs.

    Runs of the experiment left RUNNING by a process that is gone are closed
    FAILED on the way (see `lifecycle.close_lost_runs`). The experiment gets
    its kind and description where it has none (see `ui.describe_experiment`).
    """
    with _sqlite_store_lock(mlflow.get_tracking_uri()):
        if adopted_run_id:
            experiment_id = mlflow.get_run(adopted_run_id).info.experiment_id
            experiment_id = mlflow.set_experiment(experiment_id=experiment_id).experiment_id
        else:
            experiment_id = mlflow.set_experiment(experiment_name).experiment_id
    if housekeeping:
        ui.describe_experiment(experiment_id)
        lifecycle.close_lost_runs(experiment_id)
    return experiment_id


def check_tracking_server(uri, key="MLFLOW_TRACKING_URI"):
    """Raises `TrackingServerUnreachableError` unless an MLflow server answers at `uri`.

    Two requests (5 s at most each) stand in for MLflow's own retries, which
    take minutes to give up: the server's `/health`, and one search of its
    API, which a server whose database is down answers with an error. A
    server that asks for credentials (HTTP 401 or 403) passes; stores that
    are not HTTP(S) servers pass.

    Args:
        uri: The tracking URI.
        key: Where the URI came from, for the message.
    """
    if urllib.parse.urlsplit(uri).scheme not in ("http", "https"):
        return
    base = uri.rstrip("/")
    for path, what in ((_HEALTH_PATH, "GET /health"), (_API_PROBE_PATH, "its REST API")):
        try:
            response = requests.get(f"{base}{path}", timeout=_HEALTH_TIMEOUT_S)
        except requests.Timeout:
            reason = f"no answer within {_HEALTH_TIMEOUT_S:g} s"
        except requests.RequestException:
            reason = "could not connect"
        else:
            if response.status_code in (200, 401, 403):
                continue
            reason = f"{what} answered HTTP {response.status_code}"
        raise TrackingServerUnreachableError(
            key, uri, f"a running MLflow tracking server ({reason})"
        )


def check_database_server(uri, key="MLFLOW_TRACKING_URI"):
    """Raises `ConfigError` unless the database server of a SQL store's URI accepts connections.

    One TCP connection (5 s at most) stands in for MLflow's retries of an
    unreachable database, which take about two minutes to give up. SQLite
    files, servers reached through a local socket (no host in the URI) and
    stores that are not databases pass.

    Args:
        uri: The tracking URI.
        key: Where the URI came from, for the message.
    """
    parts = urllib.parse.urlsplit(uri)
    dialect, _, driver = parts.scheme.partition("+")
    local_socket = any(key in urllib.parse.parse_qs(parts.query) for key in _SOCKET_QUERY_KEYS)
    # pyodbc names a data source, not a host; mysqlclient takes `localhost` for its socket.
    elsewhere = driver == "pyodbc" or (dialect == "mysql" and parts.hostname == "localhost")
    if dialect not in _DATABASE_PORTS or not parts.hostname or local_socket or elsewhere:
        return
    try:
        address = (parts.hostname, parts.port or _DATABASE_PORTS[dialect])
    except ValueError:
        raise ConfigError(key, uri, "a database URI whose port is a number in [0, 65535]") from None
    try:
        socket.create_connection(address, timeout=_HEALTH_TIMEOUT_S).close()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ConfigError(
            key,
            uri,
            f"a database server that accepts connections at {address[0]}:{address[1]} ({reason})",
        ) from None


def _check_sqlite_folder(key, uri):
    """Refuses a SQLite store in a folder where neither it nor its lock can be written."""
    database = disk.sqlite_path(uri)
    if database is None:
        return
    folder = next(parent for parent in database.parents if parent.exists())
    if not (folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)) or _is_pseudo_fs(folder):
        raise ConfigError(key, uri, f"a SQLite file in a folder this process can write ({folder})")


def _check_sqlite_file(key, uri):
    """Refuses an existing SQLite file that cannot be read and written, or is not intact."""
    database = disk.sqlite_path(uri)
    if database is None or not database.exists():
        return
    if not os.access(database, os.R_OK | os.W_OK):
        raise ConfigError(key, uri, f"a SQLite file this process can read and write ({database})")
    problem = _sqlite_integrity_problem(database)
    if problem:
        raise ConfigError(
            key,
            uri,
            f"an intact SQLite database ({database}: {problem}); move it aside to start a new store",
        )


def _create_sqlite_file(uri):
    """Creates a missing SQLite store with MLflow's schema (MLflow would, more slowly)."""
    database = disk.sqlite_path(uri)
    if database is not None and not database.exists():
        sqlite_template.create_store(database)


def _is_pseudo_fs(folder):
    """Whether `folder` lies in a kernel file system (/proc, /sys), which root can "write" but
    which holds no files."""
    return folder.parts[:2] in (("/", "proc"), ("/", "sys"))


def _sqlite_integrity_problem(database):
    """SQLite's own `PRAGMA quick_check` of the file: `None` when intact, else what it found."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            rows = db.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as error:
        return str(error)
    found = [row[0] for row in rows if row[0] != "ok"]
    return "; ".join(found[:3]) or None


@contextlib.contextmanager
def _sqlite_store_lock(uri):
    """Holds an exclusive lock beside a SQLite store; does nothing for other stores.

    MLflow creates and migrates the schema when a process first opens the
    store, and `set_experiment` creates a missing experiment: two processes
    doing either at once leave the database broken or fail. Later writes are
    safe without the lock: MLflow waits up to 20 s for SQLite's write lock.
    """
    database = disk.sqlite_path(uri)
    if database is None:
        yield
        return
    database.parent.mkdir(parents=True, exist_ok=True)
    try:
        with filelock.FileLock(f"{database}.lock", timeout=_LOCK_TIMEOUT_S):
            yield
    except filelock.Timeout:
        raise ConfigError(
            "MLFLOW_TRACKING_URI",
            uri,
            f"a store no other process holds locked for {_LOCK_TIMEOUT_S:g} s ({database}.lock)",
        ) from None


def _first_line(error):
    return str(error).strip().splitlines()[0]
