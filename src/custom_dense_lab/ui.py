"""`custom-dense-ui`: the MLflow UI over the lab's tracking store, said ready when it answers.

`mlflow ui` prints its address as soon as its socket is bound; its workers
then start, and the first page can take seconds more (over a minute on a busy
two-core machine). This program starts the same server, with one worker and
its own chatter turned down to warnings, and prints the address once the
server answers `/health` and a request to its store.
"""

from custom_dense_lab import arguments

arguments.answer_help(arguments.ui_parser, __file__)  # at once, before MLflow loads

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from custom_dense_lab.process import signals

# How long the server may take to answer before the program gives up on it.
READY_TIMEOUT_S = 300
_POLL_S = 0.2
# MLflow's server warns of a deprecated Starlette module in each worker.
_SERVER_WARNINGS = "ignore:starlette.middleware.wsgi is deprecated"


def main(argv=None):
    """Starts the UI, says when it answers, and runs until Ctrl-C or SIGTERM.

    Exits 2 with one line for a store that cannot be used or a port in use, 1
    when the server ends before it answers, and 130 or 143 after a stop signal
    (the server is stopped with it).
    """
    signals.exit_on_stop_signals("while the MLflow UI was starting")
    args = arguments.ui_parser().parse_args(sys.argv[1:] if argv is None else argv)
    from custom_dense_lab.errors import ConfigError, StorageFullError
    from custom_dense_lab.tracking import store

    try:
        uri = store.use_store(args.tracking_uri)  # a new SQLite store comes from the template
        _check_port_free(args.host, args.port)
    except (ConfigError, StorageFullError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    address = f"http://{args.host}:{args.port}"
    print(f"Starting the MLflow UI over {uri} ...", flush=True)
    stop = _StopWith()  # before the server exists: a stop then has one to pass on to
    server = stop.server = _start_server(uri, args.host, args.port)
    started = time.monotonic()
    ready = _wait_until_ready(address, server, stop)
    if stop.signum is not None:
        server.wait()
        sys.exit(128 + stop.signum)
    if not ready:
        if server.poll() is None:
            server.terminate()
            reason = f"did not answer within {READY_TIMEOUT_S} s, and was stopped"
        else:
            reason = f"ended (exit status {server.returncode}) before it answered"
        print(f"error: the MLflow server {reason}: see its lines above", file=sys.stderr)
        sys.exit(1)
    print(
        f"MLflow UI ready at {address} ({time.monotonic() - started:.1f} s); Ctrl-C stops it",
        flush=True,
    )
    server.wait()
    if stop.signum is not None:
        sys.exit(128 + stop.signum)
    sys.exit(server.returncode)


def _check_port_free(host, port):
    from custom_dense_lab.errors import ConfigError

    with socket.socket() as probe:
        # As the server binds: a port that a stopped server's connections still wait on is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ConfigError(
                "--port", port, f"a port free on {host} ({error.strerror}): try --port 5001"
            ) from None


def _start_server(uri, host, port):
    command = [
        *(sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri),
        *("--registry-store-uri", uri),
        *("--host", host, "--port", str(port), "--workers", "1"),
        *("--uvicorn-opts", "--log-level warning"),
    ]
    return subprocess.Popen(command, env=server_environment(), start_new_session=True)


def server_environment():
    """The environment of an `mlflow server` or `mlflow ui` process the lab starts.

    Returns:
        This process's environment with MLflow's chatter turned down to
        warnings, no telemetry, and no server-side GenAI jobs (seven worker
        processes the lab never uses) unless the environment asks for them.
    """
    return {
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        **os.environ,
        "MLFLOW_LOGGING_LEVEL": "WARNING",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PYTHONWARNINGS": _SERVER_WARNINGS,
    }


class _StopWith:
    """Passes SIGINT and SIGTERM on to the server's process group; remembers which came.

    A stop before the server started keeps it from starting.
    """

    def __init__(self):
        self.signum = None
        self.server = None
        for signum in signals.STOP_SIGNALS:
            signal.signal(signum, self._pass_on)

    def _pass_on(self, signum, frame):
        self.signum = signum
        if self.server is None:
            raise SystemExit(128 + signum)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.server.pid, signal.SIGTERM)


def _wait_until_ready(address, server, stop):
    """Whether the server answered `/health` and a store request in time, still running."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and server.poll() is None and stop.signum is None:
        if _answers(f"{address}/health") and _answers(
            f"{address}/ajax-api/2.0/mlflow/experiments/search?max_results=1"
        ):
            return True
        time.sleep(_POLL_S)
    return False


def _answers(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


if __name__ == "__main__":
    main()
