"""The tracking store, checked in one line and seconds before any job (MLflow itself retries an
unreachable server or database for minutes), then its experiment opened; a new SQLite store is
a copy of an empty one MLflow built once per schema, checked by its SHA-256."""

import contextlib
import hashlib
import os
import pathlib
import shutil
import socket
import sqlite3
import sys
import tempfile
import urllib.parse

import filelock
import mlflow
import requests
from mlflow.exceptions import MlflowException
from mlflow.store.tracking import DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH

from custom_dense_lab.errors import ConfigError, TrackingServerUnreachableError
from custom_dense_lab.tracking import disk, lifecycle, ui

_PROBE_TIMEOUT_S = 5.0
_LOCK_TIMEOUT_S = 120.0  # creating or migrating a store takes seconds
_SCHEMES = {"", "file", "sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks"}
_SCHEMES_TEXT = "sqlite:///path.db, postgresql://..., mysql://..., mssql://..., http(s)://server"
_DATABASE_PORTS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}
_MIGRATIONS = pathlib.Path(mlflow.__file__).parent / "store" / "db_migrations" / "versions"


def use_store(tracking_uri, key="mlflow.tracking_uri"):
    """Points MLflow at `tracking_uri` (`None`: MLflow's default) once it passes every check, a new
    SQLite store created one process at a time; returns the URI. Errors name `key`, where the URI
    came from, or `MLFLOW_TRACKING_URI`."""
    from_environment = not tracking_uri and mlflow.environment_variables.MLFLOW_TRACKING_URI.defined
    key = "MLFLOW_TRACKING_URI" if from_environment else key
    uri = tracking_uri or mlflow.get_tracking_uri()
    if urllib.parse.urlsplit(uri).scheme.partition("+")[0] not in _SCHEMES:
        raise ConfigError(key, uri, f"a tracking store MLflow supports: {_SCHEMES_TEXT}")
    check_tracking_server(uri, key)
    check_database_server(uri, key)
    database = disk.sqlite_path(uri)
    if database is not None and (problem := disk.write_problem(database.parent)):
        raise ConfigError(key, uri, f"a SQLite file in a folder this process can write ({problem})")
    with _sqlite_store_lock(uri):
        if database is not None and database.exists():
            _check_sqlite_file(key, uri, database)
        elif database is not None:
            create_store(database)
        mlflow.set_tracking_uri(uri)
        try:  # the first use creates or migrates a database's schema
            mlflow.MlflowClient().search_experiments(max_results=1)
        except Exception as error:  # MLflow's, SQLAlchemy's or the database driver's
            first_line = str(error).strip().splitlines()[0]
            unusable = ConfigError(key, uri, f"a usable tracking store ({first_line})")
            raise disk.storage_failure(error) or unusable from None
    return uri


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


def check_project_run(run_id):
    """Raises `ConfigError` unless `$MLFLOW_RUN_ID` is a fresh run that `mlflow run` opened."""
    if problem := project_run_problem(run_id):
        accepted = "a RUNNING run that `mlflow run` opened and nothing has recorded into yet, not "
        remedy = "unset MLFLOW_RUN_ID (left from an earlier `mlflow run`?) and start again"
        raise ConfigError("MLFLOW_RUN_ID", run_id, f"{accepted}{problem}: {remedy}")


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
    """Makes an experiment active, created if needed, and returns its id; that of
    `adopted_run_id` wins over the name. `housekeeping` closes its lost runs and describes it."""
    with _sqlite_store_lock(mlflow.get_tracking_uri()):
        if adopted_run_id:
            adopted = mlflow.get_run(adopted_run_id).info.experiment_id
            experiment_id = mlflow.set_experiment(experiment_id=adopted).experiment_id
        else:
            experiment_id = mlflow.set_experiment(experiment_name).experiment_id
    if housekeeping:
        ui.describe_experiment(experiment_id)
        lifecycle.close_lost_runs(experiment_id)
    return experiment_id


def check_tracking_server(uri, key="MLFLOW_TRACKING_URI"):
    """Raises `TrackingServerUnreachableError` unless an HTTP(S) URI's MLflow server answers an
    API search (which fails while its database is down); asking for credentials passes."""
    if urllib.parse.urlsplit(uri).scheme not in ("http", "https"):
        return
    search = f"{uri.rstrip('/')}/api/2.0/mlflow/experiments/search?max_results=1"
    try:
        status = requests.get(search, timeout=_PROBE_TIMEOUT_S).status_code
        reason = None if status in (200, 401, 403) else f"its REST API answered HTTP {status}"
    except requests.Timeout:
        reason = f"no answer within {_PROBE_TIMEOUT_S:g} s"
    except requests.RequestException:
        reason = "could not connect"
    if reason:
        raise TrackingServerUnreachableError(
            key, uri, f"a running MLflow tracking server ({reason})"
        )


def check_database_server(uri, key="MLFLOW_TRACKING_URI"):
    """Raises `ConfigError` unless a SQL store's database server accepts a TCP connection; one
    reached otherwise (a socket, an ODBC data source, mysqlclient's `localhost`) is left alone."""
    parts = urllib.parse.urlsplit(uri)
    dialect, _, driver = parts.scheme.partition("+")
    by_socket = {"host", "unix_socket"} & urllib.parse.parse_qs(parts.query).keys()
    by_socket = (
        by_socket or driver == "pyodbc" or (dialect, parts.hostname) == ("mysql", "localhost")
    )
    if dialect not in _DATABASE_PORTS or not parts.hostname or by_socket:
        return
    try:
        address = (parts.hostname, parts.port or _DATABASE_PORTS[dialect])
    except ValueError:
        raise ConfigError(key, uri, "a database URI whose port is a number in [0, 65535]") from None
    try:
        socket.create_connection(address, timeout=_PROBE_TIMEOUT_S).close()
    except OSError as error:
        where = f"{address[0]}:{address[1]} ({error.strerror or type(error).__name__})"
        accepted = f"a database server that accepts connections at {where}"
        raise ConfigError(key, uri, accepted) from None


def _check_sqlite_file(key, uri, database):
    if not os.access(database, os.R_OK | os.W_OK):
        raise ConfigError(key, uri, f"a SQLite file this process can read and write ({database})")
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            found = [row[0] for row in db.execute("PRAGMA quick_check") if row[0] != "ok"]
    except sqlite3.DatabaseError as error:
        found = [str(error)]
    if found:
        accepted = f"an intact SQLite database ({database}: {'; '.join(found[:3])})"
        raise ConfigError(key, uri, f"{accepted}; move it aside to start a new store")


@contextlib.contextmanager
def _sqlite_store_lock(uri):
    """Beside a SQLite store, while MLflow creates its schema or an experiment (one at a time)."""
    database = disk.sqlite_path(uri)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(f"{database}.lock", timeout=_LOCK_TIMEOUT_S) if database else None
    try:
        with lock or contextlib.nullcontext():
            yield
    except filelock.Timeout:
        held = f"a store no other process holds locked for {_LOCK_TIMEOUT_S:g} s ({database}.lock)"
        raise ConfigError("MLFLOW_TRACKING_URI", uri, held) from None


def create_store(database):
    """Creates the missing SQLite file `database` as a copy of the empty store; where none can be
    built or copied (an unwritable cache folder, say), nothing: MLflow builds the schema."""
    partial = database.with_name(f".{database.name}.{socket.gethostname()}.{os.getpid()}.partial")
    try:
        shutil.copyfile(_template(), partial)
        os.replace(partial, database)
    except Exception:
        partial.unlink(missing_ok=True)


def template_problem(template):
    """What makes `template` unfit to copy; `None` when it is the empty store built here."""
    digest = _digest_file(template)
    if not template.is_file() or not digest.is_file():
        return f"{template} is missing"
    if digest.read_text() != hashlib.sha256(template.read_bytes()).hexdigest():
        return f"{template} changed since it was built"
    return None


def _template():
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    migrations = " ".join(sorted(path.name for path in _MIGRATIONS.glob("*.py")))
    schema = hashlib.sha256(migrations.encode()).hexdigest()[:12]
    template = cache / "custom-dense" / f"mlflow-{mlflow.__version__}-{schema}-empty.db"
    if template_problem(template) is None:
        return template
    template.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(f"{template}.lock", timeout=_LOCK_TIMEOUT_S):
        if problem := template_problem(template):
            if template.exists():
                print(
                    f"custom-dense: building the empty-store template again: {problem}",
                    file=sys.stderr,
                )
            _build(template)
    return template


def _build(template):
    with tempfile.TemporaryDirectory(dir=template.parent) as folder:
        partial = pathlib.Path(folder, template.name)  # new: MLflow keeps a store per URI
        mlflow.MlflowClient(tracking_uri=f"sqlite:///{partial}").search_experiments(max_results=1)
        with contextlib.closing(sqlite3.connect(partial)) as db, db:
            db.execute("DELETE FROM experiments")  # a copy's MLflow adds a Default of its own
        _digest_file(partial).write_text(hashlib.sha256(partial.read_bytes()).hexdigest())
        os.replace(partial, template)
        os.replace(_digest_file(partial), _digest_file(template))


def _digest_file(template):
    return template.with_name(f"{template.name}.sha256")
