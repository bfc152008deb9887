"""The tracking store: a server's health, the store in use, the experiment."""

import http.server
import threading

import mlflow
import pytest
from helpers import free_port

from custom_dense.lab.errors import TrackingServerUnreachableError
from custom_dense.lab.tracking import store


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
        store.check_tracking_server(http_server)


@pytest.mark.parametrize("http_server", [200, 401, 403], indirect=True)
def test_a_server_that_answers_or_asks_for_credentials_passes(http_server):
    store.check_tracking_server(http_server)


def test_an_unreachable_server_is_refused_at_once_in_one_line():
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TrackingServerUnreachableError) as raised:
        store.check_tracking_server(uri)
    assert str(raised.value) == (
        f"Invalid MLFLOW_TRACKING_URI='{uri}': expected a running MLflow tracking server "
        "(could not connect)."
    )
    with pytest.raises(TrackingServerUnreachableError, match=r"^Invalid mlflow.tracking_uri="):
        store.check_tracking_server(uri, key="mlflow.tracking_uri")


@pytest.mark.parametrize("uri", ["sqlite:///nowhere/mlflow.db", "file:///tmp/mlruns", "mlruns"])
def test_stores_that_are_not_servers_pass_the_server_check(uri):
    store.check_tracking_server(uri)


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
