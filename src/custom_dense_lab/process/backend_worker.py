"""A process of one Keras backend, doing the calls its starting process sends (see `backends`).

Started as `python -m custom_dense_lab.process.backend_worker REQUESTS REPLIES
CALLER` with `KERAS_BACKEND` set: the two file descriptors of its pipes, and
the process id of the process that started it, which it watches: once that
one is gone, it closes its runs FAILED and exits (`sweep.launcher_watch`). Each
request is a `(function, args)` message of `backends.send`; each reply
`("returned", value)` or `("raised", exception)`. Its stops come from the
process that started it: each is noted and acted on at the next checkpoint
(the current job ends KILLED); that process closes the pipes, and kills the
worker if it waits too long. After a stop the worker answers where that process
still listens, then exits with the signal's status. It exits at the end of its
requests.
"""

from custom_dense_lab.process.startup import quiet_start

quiet_start()

import contextlib
import os
import pickle
import sys
import traceback

from custom_dense_lab.process import backends, signals
from custom_dense_lab.sweep import launcher_watch


def main(requests_fd, replies_fd, caller_pid):
    """Answers requests until the pipe closes; exits 130 or 143 after a stop."""
    launcher_watch.watch_caller(caller_pid)
    _keep_tensorflow_off_the_gpus()
    signals.note_stops_only()
    while True:
        try:
            request = backends.receive(requests_fd)
        except EOFError:
            return
        except Exception as error:  # a call this process cannot read: its caller is told
            reply = ("raised", _sendable(error))
        else:
            reply = _answer(*request)
        with contextlib.suppress(BrokenPipeError):  # the process that asked stopped listening
            backends.send(replies_fd, reply)
        stop = signals.stop_requested()
        if stop is not None:  # the caller was told, and says it: end quietly
            sys.exit(stop.exit_status)


def _answer(function, args):
    """The reply to one call: what it returned, or what it raised (a stop noted meanwhile too)."""
    try:
        value = function(*args)
        signals.raise_if_stopped()
    except BaseException as error:  # sent back, to be raised where the call came from
        return ("raised", _sendable(error))
    try:
        pickle.dumps(value)  # the reply must reach the caller whole
    except Exception as error:
        return ("raised", _sendable(error))
    return ("returned", value)


def _sendable(error):
    """`error`, or a `RuntimeError` with its traceback where it would not pickle."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError("".join(traceback.format_exception(error)).rstrip())
    return error


def _keep_tensorflow_off_the_gpus():
    """TensorFlow serves the data pipelines here: the GPUs are the backend's, not TensorFlow's."""
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        import tensorflow as tf

        tf.config.set_visible_devices([], "GPU")


if __name__ == "__main__":
    main(*map(int, sys.argv[1:]))
