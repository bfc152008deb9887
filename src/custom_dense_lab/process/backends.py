"""Work for another Keras backend, done in a process of that backend, kept for the work after.

Keras chooses its backend once, when it is first imported (`KERAS_BACKEND`),
so a process that runs TensorFlow jobs cannot run a JAX job. `run_in_backend`
sends such a call to a worker process of the right backend
(`custom_dense_lab.process.backend_worker`), started at the first call for
that backend and kept for the next ones: a sweep over backends pays one start
per backend, not one per job. The worker prints to this process's terminal;
what the call returns, or raises, comes back here.

Stops: the worker runs in a session of its own, so that a Ctrl-C at the
terminal reaches it through this process only, once. A stop this process
takes while the worker works is passed on to it, and the worker acts on it at
its next checkpoint (its job ends KILLED there, and says so). If it has not
ended `STOP_GRACE_S` later, it is killed. Either way `Interrupted` is raised
here. A worker ends when this process closes the pipe (after its current
call), or when this process ends: it watches this process, and stops once it
is gone (see `sweep.launcher_watch`).
"""

import atexit
import os
import pickle
import select
import struct
import subprocess
import sys

import keras

from custom_dense_lab.errors import Interrupted
from custom_dense_lab.process import signals

BACKENDS = ("tensorflow", "jax", "torch")
# How long a worker may take to act on a stop before it is killed.
STOP_GRACE_S = 60
# How often a wait for the worker looks for a stop this process noted but did not raise.
_POLL_S = 0.2
_LENGTH = struct.Struct("<Q")

_workers = {}


class BackendWorkerError(RuntimeError):
    """A worker process ended before it answered, or answered with what cannot be read."""


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


def send(fd, value):
    """Writes `value` to the pipe `fd` as one message: its pickle's length, then the pickle."""
    data = pickle.dumps(value)
    data = _LENGTH.pack(len(data)) + data
    while data:
        data = data[os.write(fd, data) :]


def receive(fd):
    """Reads one message of `send` from the pipe `fd`; `EOFError` when the pipe is closed."""
    (length,) = _LENGTH.unpack(_read_exactly(fd, _LENGTH.size))
    return pickle.loads(_read_exactly(fd, length))


def _read_exactly(fd, count):
    chunks = []
    while count:
        chunk = os.read(fd, count)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


class _Worker:
    """One worker process: a pipe of requests to it, a pipe of replies from it."""

    def __init__(self, backend):
        request_read, self._requests = os.pipe()
        self._replies, reply_write = os.pipe()
        self.backend = backend
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "custom_dense_lab.process.backend_worker",
                str(request_read),
                str(reply_write),
                str(os.getpid()),
            ],
            env={**os.environ, "KERAS_BACKEND": backend},
            pass_fds=(request_read, reply_write),
            start_new_session=True,
        )
        os.close(request_read)
        os.close(reply_write)

    def alive(self):
        return self.process.poll() is None

    def call(self, function, args):
        try:
            send(self._requests, (function, args))
            outcome, value = self._reply()
        except Interrupted as stop:
            self._stop(stop.signum)
            raise
        if outcome == "raised":
            raise value
        return value

    def _reply(self):
        """The worker's reply; a stop this process noted meanwhile is passed on to it, once."""
        passed_on = False
        while not select.select([self._replies], [], [], _POLL_S)[0]:
            stop = signals.stop_requested()
            if stop is not None and not passed_on:
                self.process.send_signal(stop.signum)
                passed_on = True
        try:
            return receive(self._replies)
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

    def _stop(self, signum):
        """Passes a stop on to the worker and closes it: it ends at its next checkpoint, or at
        once where it waits for a call (its answer may be in the pipe already)."""
        if self.alive():
            self.process.send_signal(signum)
        self.close()

    def close(self):
        """Closes the pipes, so that the worker ends; kills it if it has not ended in time."""
        if self._requests is None:
            return
        os.close(self._requests)
        os.close(self._replies)
        self._requests = self._replies = None
        try:
            self.process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
