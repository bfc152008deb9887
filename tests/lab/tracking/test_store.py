"""The tracking store: a server's health, the store in use, the experiment."""

import contextlib
import http.server
import socket
import sqlite3
import threading

import mlflow
import pytest
from helpers import free_port, sqlite_uri, using_store

from custom_dense_lab.errors import ConfigError, TrackingServerUnreachableError
from custom_dense_lab.tracking import store


def _server_answering(status):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    return http.server.HTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture
def http_server(request):
    """An HTTP server on 127.0.0.1 that answers every GET with `request.param`: its URI."""
    server = _server_answering(request.param)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("http_server", [404], indirect=True)
def test_an_http_server_that_is_not_mlflow_is_refused(http_server):
    with pytest.raises(TrackingServerUnreachableError, match="answered HTTP 404"):
        store.check_server(http_server)


@pytest.mark.parametrize("http_server", [200, 401, 403], indirect=True)
def test_a_server_that_answers_or_asks_for_credentials_passes(http_server):
    store.check_server(http_server)


def test_an_unreachable_server_is_refused_at_once_in_one_line():
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TrackingServerUnreachableError) as raised:
        store.check_server(uri)
    assert str(raised.value) == (
        f"Invalid MLFLOW_TRACKING_URI='{uri}': expected a running MLflow tracking server "
        "(could not connect)."
    )
    with pytest.raises(TrackingServerUnreachableError, match=r"^Invalid mlflow.tracking_uri="):
        store.check_server(uri, key="mlflow.tracking_uri")


@pytest.mark.parametrize("scheme", ["postgresql", "mysql+pymysql", "mssql"])
def test_an_unreachable_database_server_is_refused_at_once_in_one_line(scheme):
    port = free_port()
    uri = f"{scheme}://user@127.0.0.1:{port}/runs"
    with pytest.raises(ConfigError) as raised:
        store.use_store(uri)
    assert str(raised.value) == (
        f"Invalid mlflow.tracking_uri='{uri}': expected a database server that accepts "
        f"connections at 127.0.0.1:{port} (Connection refused)."
    )


def test_a_database_server_that_accepts_connections_passes_the_check():
    with socket.create_server(("127.0.0.1", 0)) as listening:
        port = listening.getsockname()[1]
        store.check_server(f"postgresql://user@127.0.0.1:{port}/runs")
    store.check_server("postgresql:///runs")  # a local socket: left to the driver


@pytest.mark.parametrize("uri", ["sqlite:///nowhere/mlflow.db", "file:///tmp/mlruns", "mlruns"])
def test_stores_that_are_not_servers_pass_the_server_check(uri):
    store.check_server(uri)


def test_use_store_takes_the_configured_uri_else_the_environment(tracking, tmp_path):
    assert store.use_store(None) == tracking.uri
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert store.use_store(other) == other
    assert mlflow.get_tracking_uri() == other


def test_open_experiment_creates_it_or_follows_an_adopted_run(tracking):
    first = store.open_experiment(f"{tracking.experiment} first")
    assert mlflow.get_experiment(first).name == f"{tracking.experiment} first"
    with mlflow.start_run(experiment_id=first) as run:
        pass
    adopted = store.open_experiment(f"{tracking.experiment} second", run.info.run_id)
    assert adopted == first
    assert mlflow.get_experiment_by_name(f"{tracking.experiment} second") is None


def test_a_new_sqlite_store_is_a_copy_of_an_empty_one_with_its_own_artifact_root(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with using_store(sqlite_uri(tmp_path / "first"), tmp_path):
        store.use_store(None)
    (template,) = (tmp_path / "cache" / "custom-dense").glob("mlflow-*-empty.db")
    second = tmp_path / "second"
    second.mkdir()
    with using_store(sqlite_uri(second), second):
        store.use_store(None)
        default = mlflow.get_experiment("0")
        experiment_id = store.open_experiment("copied")
        with mlflow.start_run(experiment_id=experiment_id):
            mlflow.log_metric("m", 1.0)
    assert [(e.name, e.experiment_id) for e in [default]] == [("Default", "0")]
    assert default.artifact_location == f"{second.as_uri().removeprefix('file://')}/mlruns/0"
    with contextlib.closing(sqlite3.connect(template)) as db:
        assert db.execute("SELECT COUNT(*) FROM experiments").fetchone() == (0,)


def test_a_new_store_from_the_template_is_at_mlflows_current_schema(tmp_path, monkeypatch):
    """The copy has the tables, indexes and schema revision of a store MLflow builds itself."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    copied = tmp_path / "copied"
    built = tmp_path / "built"
    for folder in (copied, built):
        folder.mkdir()
    with using_store(sqlite_uri(copied), copied):
        store.use_store(None)
    with using_store(sqlite_uri(built), built):
        mlflow.MlflowClient().search_experiments()

    def schema(folder):
        with contextlib.closing(sqlite3.connect(folder / "mlflow.db")) as db:
            names = db.execute("SELECT type, name FROM sqlite_master ORDER BY name").fetchall()
            return names, db.execute("SELECT version_num FROM alembic_version").fetchall()

    assert schema(copied) == schema(built)


def test_a_new_sqlite_store_is_built_by_mlflow_where_no_empty_copy_can_be_kept(
    tmp_path, monkeypatch
):
    cache_file = tmp_path / "not-a-folder"
    cache_file.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_file))
    with using_store(sqlite_uri(tmp_path), tmp_path):
        store.use_store(None)
        assert store.open_experiment("built") != "0"
    assert not list(tmp_path.glob(".mlflow.db*.partial"))


def test_only_a_fresh_run_that_mlflow_run_opened_is_adopted_as_the_project_run(tracking):
    client = mlflow.MlflowClient()
    experiment_id = mlflow.set_experiment(tracking.experiment).experiment_id
    entry_point = {"mlflow.project.entryPoint": "main"}

    def run(tags=None):
        return client.create_run(experiment_id, tags=tags or {}).info.run_id

    fresh = run(entry_point)
    store.check_project_run(fresh)  # adopted: no error
    finished = run(entry_point)
    client.set_terminated(finished)
    measured = run(entry_point)
    client.log_metric(measured, "test_accuracy", 0.7)
    deleted = run(entry_point)
    client.delete_run(deleted)
    problems = {
        finished: "a FINISHED run",
        measured: "a run that a job or sweep already records into",
        deleted: "a deleted run",
        run(): "a run that `mlflow run` did not start",
        "0" * 32: "a run this tracking store does not have",
    }
    for run_id, problem in problems.items():
        with pytest.raises(ConfigError, match=rf"^Invalid MLFLOW_RUN_ID='{run_id}': expected") as e:
            store.check_project_run(run_id)
        assert f"not {problem}: unset MLFLOW_RUN_ID" in str(e.value)
    assert client.get_run(finished).info.status == "FINISHED"


@pytest.mark.parametrize(
    "uri",
    [
        "postgresql://user@127.0.0.1/runs?host=/var/run/postgresql",  # a local socket
        "mssql+pyodbc://user:secret@a_data_source_name",  # a DSN, not a host
        "mysql://user@localhost/runs",  # mysqlclient's socket
    ],
)
def test_servers_reached_otherwise_than_by_tcp_are_left_to_their_driver(uri):
    store.check_server(uri)


def test_a_database_port_that_is_not_a_port_is_one_line():
    with pytest.raises(ConfigError, match=r"expected a database URI whose port is a number"):
        store.check_server("postgresql://user@127.0.0.1:abc/runs")
