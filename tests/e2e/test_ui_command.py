"""`custom-dense-ui`: the MLflow UI, said ready only once it answers; stopped with Ctrl-C (a port
in use: tests/lab/cli)."""

import os
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest
from helpers import free_port, sqlite_uri

pytestmark = pytest.mark.slow


def start_ui(folder, *args):
    return subprocess.Popen(
        [sys.executable, "-m", "custom_dense_lab.ui", *args],
        cwd=folder,
        env={**os.environ, "MLFLOW_TRACKING_URI": sqlite_uri(folder)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def status_of(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status


def test_the_ui_is_said_ready_when_it_answers_and_ctrl_c_stops_it(tmp_path):
    port = free_port()
    ui = start_ui(tmp_path, "--port", str(port))
    try:
        assert ui.stdout.readline().startswith("Starting the MLflow UI over sqlite:///")
        ready = ui.stdout.readline()
        address = f"http://127.0.0.1:{port}"
        assert ready.startswith(f"MLflow UI ready at {address} ("), ready + ui.stderr.read()
        # Said ready: the page and the store answer at once.
        assert status_of(f"{address}/") == 200
        assert status_of(f"{address}/ajax-api/2.0/mlflow/experiments/search?max_results=1") == 200
    finally:
        ui.send_signal(signal.SIGINT)
        ui.communicate(timeout=60)
    assert ui.returncode == 130
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", port))  # the server went with it
