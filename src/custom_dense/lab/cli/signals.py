"""SIGINT and SIGTERM as `Interrupted`, so that a stopped job or sweep is recorded as KILLED."""

import signal
import threading

from custom_dense.lab.errors import Interrupted, note_stop

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def raise_on_stop_signals():
    """Makes SIGINT and SIGTERM raise `Interrupted` in this process's main thread.

    SIGTERM would otherwise end the process at once, with its runs left
    RUNNING. Does nothing outside the main thread, where Python cannot take
    signals.
    """
    if threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:
            signal.signal(signum, _raise_interrupted)


def _raise_interrupted(signum, frame):
    note_stop(signum)  # training checks it too, in case the exception below is dropped
    raise Interrupted(signum)
