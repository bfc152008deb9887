"""Work for another Keras backend, done in a process of that backend, kept for the work after.

Keras chooses its backend once, when it is first imported (`KERAS_BACKEND`),
so a process that runs TensorFlow jobs cannot run a JAX job. `run_in_backend`
sends such a call to a worker process of the right backend
(`custom_dense_lab.process.backend_worker`), started at the first call for
that backend and kept for the next ones: a sweep over backends pays one start
per backend, not one per job. The worker prints to this process's terminal;
what the call returns, or raises, comes back here.

A stop signal while the worker works is passed on to it, once: its job ends
KILLED there, and `Interrupted` is raised here. The worker runs in a session
of its own, so that a Ctrl-C at the terminal reaches it through this process
only. It ends when this process closes its end of the pipe, or ends.
"""

import atexit
import os
import pickle
import subprocess
import sys

import keras

from custom_dense_lab.errors import Interrupted

BACKENDS = ("tensorflow", "jax", "torch")
# How long a worker may take to record a stop before this process stops waiting for it.
STOP_GRACE_S = 60

_workers = {}


class BackendWorkerError(RuntimeError):
    """A worker process ended before it answered, or raised what cannot be sent back."""


def current_backend():
    """The Keras backend of this process: `"tensorflow"`, `"jax"` or `"torch"`."""
    return keras.config.backend()


def run_in_backend(backend, function, *args):
    """Calls `function(*args)` in a process of `backend`: this one, or its worker.

    Args:
        backend: One of `BACKENDS`.
        function: A module-level function (it is sent by reference).
        *args: Its arguments; they must pickle.

    Returns:
        What the call returned.

    Raises:
        What the call raised; `Interrupted` when this process was asked to
        stop meanwhile; `BackendWorkerError` when the worker ended first.
    """
    if backend == current_backend():
        return function(*args)
    worker = _workers.get(backend)
    if worker is None or not worker.alive():
        worker = _workers[backend] = _Worker(backend)
    return worker.call(function, args)


def close_workers():
    """Ends the workers this process started, each after its current call."""
    for worker in _workers.values():
        worker.close()
    _workers.clear()


atexit.register(close_workers)


class _Worker:
    """One worker process: a pipe of requests to it, a pipe of replies from it."""

    def __init__(self, backend):
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        self.backend = backend
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "custom_dense_lab.process.backend_worker",
                str(request_read),
                str(reply_write),
            ],
            env={**os.environ, "KERAS_BACKEND": backend},
            pass_fds=(request_read, reply_write),
            start_new_session=True,
        )
        os.close(request_read)
        os.close(reply_write)
        self._requests = os.fdopen(request_write, "wb")
        self._replies = os.fdopen(reply_read, "rb")

    def alive(self):
        return self.process.poll() is None

    def call(self, function, args):
        pickle.dump((function, args), self._requests)
        self._requests.flush()
        try:
            outcome, value = self._reply()
        except Interrupted as stop:
            # The job ends KILLED in the worker, which says so and answers.
            self.process.send_signal(stop.signum)
            self.process.wait(timeout=STOP_GRACE_S)
            raise
        if outcome == "raised":
            raise value
        return value

    def _reply(self):
        try:
            return pickle.load(self._replies)
        except EOFError:
            status = self.process.wait()
            raise BackendWorkerError(
                f"the {self.backend} worker process ended (exit status {status}) before it answered"
            ) from None

    def close(self):
        if self._requests.closed:
            return
        self._requests.close()
        self._replies.close()
        try:
            self.process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
