"""`custom-dense-ui`: the MLflow UI over the lab's tracking store, said ready when it answers.

`mlflow ui` prints its address once its socket is bound, and its first page can take seconds
more (over a minute on a busy two-core machine). This program starts the same server with
one worker and its chatter turned down, and prints the address once the server answers
`/health` and a request to its store.
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

READY_TIMEOUT_S = 300
_POLL_S = 0.2
_READY_PATHS = ("/health", "/ajax-api/2.0/mlflow/experiments/search?max_results=1")


def main(argv=None):
    """Starts the UI, says when it answers, and runs until Ctrl-C or SIGTERM stops it with the server.

    Exits 2 with one line for a store that cannot be used or a port in use, 1 when the server
    ends or hangs before it answers, 130 or 143 after a stop signal.
    """
    signals.exit_on_stop_signals("while the MLflow UI was starting")
    args = arguments.ui_parser().parse_args(sys.argv[1:] if argv is None else argv)
    from custom_dense_lab.errors import ConfigError, StorageFullError
    from custom_dense_lab.tracking import store

    try:
        uri = store.use_store(args.tracking_uri)
        _check_port_free(args.host, args.port)
    except (ConfigError, StorageFullError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(f"Starting the MLflow UI over {uri} ...", flush=True)
    server, stops = None, []

    def pass_on(signum, frame):
        stops.append(signum)
        if server is None:  # a stop before the server started keeps it from starting
            raise SystemExit(128 + signum)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)

    for signum in signals.STOP_SIGNALS:
        signal.signal(signum, pass_on)
    server = _start_server(uri, args.host, args.port)
    started = time.monotonic()
    address = f"http://{args.host}:{args.port}"
    while not stops and server.poll() is None and not _answers(address):
        if time.monotonic() - started > READY_TIMEOUT_S:
            server.terminate()
            server.wait()
            sys.exit(
                f"error: the MLflow server did not answer within {READY_TIMEOUT_S} s, and was stopped"
            )
        time.sleep(_POLL_S)
    if not stops and server.poll() is not None:
        sys.exit(
            f"error: the MLflow server ended (exit status {server.returncode}) before it "
            "answered: see its lines above"
        )
    if not stops:
        ready_s = time.monotonic() - started
        print(f"MLflow UI ready at {address} ({ready_s:.1f} s); Ctrl-C stops it", flush=True)
    server.wait()
    sys.exit(128 + stops[0] if stops else server.returncode)


def server_environment():
    """The environment of an `mlflow server` or `mlflow ui` the lab starts: MLflow's chatter
    down to warnings, no telemetry, and no GenAI job runner (seven processes the lab never uses)
    unless the environment asks for it."""
    return {
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        **os.environ,
        "MLFLOW_LOGGING_LEVEL": "WARNING",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        # MLflow's server warns of a deprecated Starlette module in each worker.
        "PYTHONWARNINGS": "ignore:starlette.middleware.wsgi is deprecated",
    }


def _check_port_free(host, port):
    from custom_dense_lab.errors import ConfigError

    with socket.socket() as probe:
        # As the server binds: a port that a stopped server's connections still wait on is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            accepted = f"a port free on {host} ({error.strerror}): try --port 5001"
            raise ConfigError("--port", port, accepted) from None


def _start_server(uri, host, port):
    command = [
        *(sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri),
        *("--registry-store-uri", uri, "--host", host, "--port", str(port), "--workers", "1"),
        *("--uvicorn-opts", "--log-level warning"),
    ]
    return subprocess.Popen(command, env=server_environment(), start_new_session=True)


def _answers(address):
    """Whether the server answers `/health` and a search of its store."""
    for path in _READY_PATHS:
        try:
            with urllib.request.urlopen(f"{address}{path}", timeout=5) as response:
                if response.status != 200:
                    return False
        except (urllib.error.URLError, OSError):
            return False
    return True


if __name__ == "__main__":
    main()
