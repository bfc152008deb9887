"""A process of one Keras backend, answering the calls of the process that started it.

`python -m custom_dense_lab.process.backend_worker REQUESTS REPLIES CALLER`, with
`KERAS_BACKEND` set: its two pipes' descriptors and its caller's process id (`backends.py`).
"""

from custom_dense_lab.process.startup import quiet_start

quiet_start()

import contextlib
import os
import pickle
import sys
import traceback
from multiprocessing.connection import Connection

import keras  # noqa: F401 -- the backend loads now: a worker that cannot load it ends unanswered

from custom_dense_lab.process import signals
from custom_dense_lab.sweep import launcher_watch


def main(requests_fd, replies_fd, caller_pid):
    """Answers requests until the pipe closes; after a stop, exits with the signal's status."""
    launcher_watch.watch_caller(caller_pid)
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        import tensorflow as tf  # its data pipelines only: the GPUs are the backend's

        tf.config.set_visible_devices([], "GPU")
    signals.note_stops_only()  # the caller passes each stop on once
    requests, replies = Connection(requests_fd), Connection(replies_fd)
    while True:
        try:
            reply = _answer(*requests.recv())
        except EOFError:
            return
        except Exception as error:  # a call this process cannot read: its caller is told
            reply = ("raised", _sendable(error))
        with contextlib.suppress(BrokenPipeError):  # the process that asked stopped listening
            replies.send(reply)
        stop = signals.stop_requested()
        if stop is not None:  # the caller was told, and says it: end quietly
            sys.exit(stop.exit_status)


def _answer(function, args):
    """What the call returned, or what it raised (a stop noted meanwhile too)."""
    try:
        value = function(*args)
        signals.raise_if_stopped()
        pickle.dumps(value)  # the reply must reach the caller whole
    except BaseException as error:  # sent back, to be raised where the call came from
        return ("raised", _sendable(error))
    return ("returned", value)


def _sendable(error):
    """`error`, or a `RuntimeError` with its traceback where it would not pickle."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError("".join(traceback.format_exception(error)).rstrip())
    return error


if __name__ == "__main__":
    main(*map(int, sys.argv[1:]))
