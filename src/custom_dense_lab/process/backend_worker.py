"""A process of one Keras backend, doing the calls its starting process sends (see `backends`).

Started as `python -m custom_dense_lab.process.backend_worker REQUESTS REPLIES`
with `KERAS_BACKEND` set, and the two file descriptors of its pipes. Each
request is a pickled `(function, args)`; each reply a pickled
`("returned", value)` or `("raised", exception)`. A stop signal ends the
current job KILLED; the worker answers with the `Interrupted` and exits with
the signal's status. It exits at the end of its requests.
"""

from custom_dense_lab.process.startup import quiet_start

quiet_start()

import os
import pickle
import sys
import traceback

from custom_dense_lab.errors import Interrupted
from custom_dense_lab.process import signals


def main(requests_fd, replies_fd):
    """Answers requests until the pipe closes; exits 130 or 143 after a stop."""
    requests = os.fdopen(requests_fd, "rb")
    replies = os.fdopen(replies_fd, "wb")
    signals.raise_on_stop_signals()
    while True:
        try:
            request = pickle.load(requests)
        except EOFError:
            return
        except Exception as error:  # a call this process cannot read: its caller is told
            reply = ("raised", _sendable(error))
        else:
            reply = _answer(*request)
        try:
            pickle.dump(reply, replies)
            replies.flush()
        except BrokenPipeError:  # the process that asked is gone: nobody to answer
            return
        if reply[0] == "raised" and isinstance(reply[1], Interrupted):
            signals.exit_on_stop_signals("after the job had ended")
            sys.exit(reply[1].exit_status)


def _answer(function, args):
    try:
        return ("returned", function(*args))
    except BaseException as error:  # sent back, to be raised where the call came from
        return ("raised", _sendable(error))


def _sendable(error):
    """`error`, or a `RuntimeError` with its traceback where it would not pickle."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError("".join(traceback.format_exception(error)).rstrip())
    return error


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
