"""Calls for another Keras backend, run in a worker process of that backend, kept for the next.

Keras picks its backend once per process, so a JAX job of a TensorFlow program runs in a
worker started at the first call for JAX (`process/backend_worker.py`). A stop this process
takes while the worker works is passed on to it once (docs/architecture.md, "Channels").
"""

import atexit
import os
import subprocess
import sys
from multiprocessing import Pipe

import keras

from custom_dense_lab.errors import Interrupted
from custom_dense_lab.process import signals

BACKENDS = ("tensorflow", "jax", "torch")
# How long a worker may take to act on a stop before it is killed.
STOP_GRACE_S = 60
# How often a wait for the worker looks for a stop this process noted but did not raise.
_POLL_S = 0.2

_workers = {}


class BackendWorkerError(RuntimeError):
    """A worker process ended before it answered, or answered what cannot be read."""


def run_in_backend(backend, function, *args):
    """Calls the module-level `function(*args)` in a process of `backend`: this one or its worker.

    Raises:
        What the call raised; `Interrupted` when this process was asked to stop meanwhile;
        `BackendWorkerError` when the worker ended first.
    """
    if backend == keras.config.backend():
        return function(*args)
    worker = _workers.get(backend)
    if worker is None or worker.process.poll() is not None:
        worker = _workers[backend] = _Worker(backend)
    return worker.call(function, args)


@atexit.register
def close_workers():
    """Ends the workers this process started, each after its current call."""
    for worker in _workers.values():
        worker.close()
    _workers.clear()


class _Worker:
    """One worker process, with a pipe of requests to it and a pipe of replies from it."""

    def __init__(self, backend):
        request_read, self._requests = Pipe(duplex=False)
        self._replies, reply_write = Pipe(duplex=False)
        self.backend = backend
        fds = (request_read.fileno(), reply_write.fileno())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "custom_dense_lab.process.backend_worker"]
            + [str(fd) for fd in (*fds, os.getpid())],
            env={**os.environ, "KERAS_BACKEND": backend},
            pass_fds=fds,
            start_new_session=True,  # a Ctrl-C reaches it once, through this process
        )
        request_read.close()
        reply_write.close()

    def call(self, function, args):
        try:
            self._requests.send((function, args))
            outcome, value = self._reply()
        except Interrupted as stop:
            if self.process.poll() is None:  # it ends at its next checkpoint, or at once
                self.process.send_signal(stop.signum)
            self.close()
            raise
        if outcome == "raised":
            raise value
        return value

    def _reply(self):
        """The worker's reply; a stop this process noted meanwhile is passed on to it, once."""
        passed_on = False
        while not self._replies.poll(_POLL_S):
            stop = signals.stop_requested()
            if stop is not None and not passed_on:
                self.process.send_signal(stop.signum)
                passed_on = True
        try:
            return self._replies.recv()
        except EOFError:
            status = self.process.wait()
            raise BackendWorkerError(
                f"the {self.backend} worker process ended (exit status {status}) before it answered"
            ) from None
        except Exception as error:  # a reply cut short or garbled
            self.process.kill()
            raise BackendWorkerError(
                f"the {self.backend} worker process answered what cannot be read ({error})"
            ) from None

    def close(self):
        """Closes the pipes, so that the worker ends; kills it if it has not ended in time."""
        if self._requests.closed:
            return
        self._requests.close()
        self._replies.close()
        try:
            self.process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
