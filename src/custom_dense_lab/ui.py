"""`custom-dense-ui`: the MLflow UI over the lab's tracking store, said ready once it answers a
request to its store (docs/ui.md)."""

from custom_dense_lab import arguments

arguments.answer_help(arguments.ui_parser, __file__)  # at once, before MLflow loads

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

import requests

from custom_dense_lab.process import signals


def main(argv=None):
    """Starts the UI and runs until Ctrl-C or SIGTERM stops it and the server. Exits 2 with one
    line for a store that cannot be used or a port in use, 1 when the server ends before it
    answers, 130 or 143 after a stop signal."""
    signals.exit_on_stop_signals("while the MLflow UI was starting")
    args = arguments.ui_parser().parse_args(sys.argv[1:] if argv is None else argv)
    from custom_dense_lab.errors import ConfigError, StorageFullError
    from custom_dense_lab.tracking import store

    try:
        uri = store.use_store(args.tracking_uri, "--tracking-uri")
        with socket.socket() as probe:
            # As the server binds: a port that a stopped server's connections wait on is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((args.host, args.port))
            except OSError as error:
                accepted = f"a port free on {args.host} ({error.strerror}): try --port 5001"
                raise ConfigError("--port", args.port, accepted) from None
    except (ConfigError, StorageFullError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(f"Starting the MLflow UI over {uri} ...", flush=True)
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri]
    command += ["--registry-store-uri", uri, "--host", args.host, "--port", str(args.port)]
    command += ["--workers", "1", "--uvicorn-opts", "--log-level warning"]
    address, server = f"http://{args.host}:{args.port}", None
    try:
        for signum in signals.STOP_SIGNALS:
            signal.signal(signum, lambda signum, frame: sys.exit(128 + signum))
        server = subprocess.Popen(command, env=server_environment(), start_new_session=True)
        started, search = time.monotonic(), f"{address}/ajax-api/2.0/mlflow/experiments/search"
        while server.poll() is None:  # said ready once it answers a request to its store
            with contextlib.suppress(requests.RequestException):
                if requests.get(search, params={"max_results": 1}, timeout=5).ok:
                    break
            time.sleep(0.2)
        else:
            ended = f"ended (exit status {server.returncode}) before it answered"
            sys.exit(f"error: the MLflow server {ended}: see its lines above")
        ready_s = time.monotonic() - started
        print(f"MLflow UI ready at {address} ({ready_s:.1f} s); Ctrl-C stops it", flush=True)
        sys.exit(server.wait())
    finally:  # the server, and its workers, go with this process
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait()


def server_environment():
    """The environment of an `mlflow server` or `ui` the lab starts: quiet, no GenAI job runner."""
    return {
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        **os.environ,
        "MLFLOW_LOGGING_LEVEL": "WARNING",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        # MLflow's server warns of a deprecated Starlette module in each worker.
        "PYTHONWARNINGS": "ignore:starlette.middleware.wsgi is deprecated",
    }


if __name__ == "__main__":
    main()
