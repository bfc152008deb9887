"""Calls for another Keras backend (Keras picks one per process), run in a worker process of
that backend kept for the next: `python -m custom_dense_lab.process.backends PIPE CALLER`."""

import atexit
import contextlib
import multiprocessing.connection
import os
import pickle
import subprocess
import sys
import traceback

from custom_dense_lab.errors import Interrupted
from custom_dense_lab.process import signals

STOP_GRACE_S = 60  # how long a worker may take to act on a stop before it is killed
_workers = {}  # backend: (process, its pipe)


class BackendWorkerError(RuntimeError):
    """A worker process ended before it answered."""


def run_in_backend(backend, function, *args):
    """Calls the module-level `function(*args)` in a process of `backend`: this one or its worker."""
    import keras

    if backend == keras.config.backend():
        return function(*args)
    if backend not in _workers or _workers[backend][0].poll() is not None:
        pipe, its_end = multiprocessing.Pipe()
        process = subprocess.Popen(
            [sys.executable, "-m", __spec__.name, str(its_end.fileno()), str(os.getpid())],
            env={**os.environ, "KERAS_BACKEND": backend},
            pass_fds=(its_end.fileno(),),
            start_new_session=True,  # a Ctrl-C reaches it once, through this process
        )
        its_end.close()
        _workers[backend] = (process, pipe)
    process, pipe = _workers[backend]
    try:
        pipe.send((function, args))
        while not pipe.poll(0.2):
            signals.raise_if_stopped()  # one noted, not raised (`stops_at_checkpoints`)
        error, value = pipe.recv()
    except Interrupted as stop:  # passed on: it ends at its next checkpoint, or at once
        process.send_signal(stop.signum)
        close_workers({backend: _workers.pop(backend)})
        raise
    except (EOFError, OSError):  # it ended, or was cut short in its reply
        process.kill()
        raise BackendWorkerError(
            f"the {backend} worker process ended (exit status {process.wait()}) before it answered"
        ) from None
    if error is not None:
        raise error
    return value


@atexit.register
def close_workers(workers=_workers):
    """Closes the pipes, so that each worker ends; kills one that has not ended in time."""
    for process, pipe in workers.values():
        pipe.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_GRACE_S)
        process.kill()
        process.wait()
    workers.clear()


def _serve(pipe_fd, caller_pid):
    """The worker: answers calls until the pipe closes, or a stop between calls."""
    import keras  # the backend loads now: a worker that cannot load it ends unanswered

    from custom_dense_lab.sweep import parent

    parent.watch(lambda: os.getppid() == caller_pid, parent.CALLER_ENDED)
    if keras.config.backend() != "tensorflow":
        import tensorflow as tf  # its data pipelines only: the GPUs are the backend's

        tf.config.set_visible_devices([], "GPU")
    signals.raise_on_stop_signals()  # the caller passes each stop on, once
    pipe = multiprocessing.connection.Connection(pipe_fd)
    with contextlib.suppress(EOFError, Interrupted):
        while True:
            function, args = pipe.recv()
            try:
                reply = (None, function(*args))
                signals.raise_if_stopped()
                pickle.dumps(reply)  # the reply must reach the caller whole
            except BaseException as error:  # raised where the call came from
                try:
                    pickle.loads(pickle.dumps(error))
                except Exception:  # as text, where it would not pickle
                    error = RuntimeError("".join(traceback.format_exception(error)).rstrip())
                reply = (error, None)
            with contextlib.suppress(BrokenPipeError):  # the process that asked stopped listening
                pipe.send(reply)


if __name__ == "__main__":
    from custom_dense_lab.process.startup import quiet_start

    quiet_start()
    _serve(*map(int, sys.argv[1:]))
