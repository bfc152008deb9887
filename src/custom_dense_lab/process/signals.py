"""SIGINT and SIGTERM as `Interrupted`, so that a stopped job or sweep is recorded as KILLED."""

import signal
import threading

from custom_dense_lab.errors import Interrupted

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

# The stop signal this process received, once a handler raised `Interrupted` for it.
_stop_signal = None


def note_stop(signum):
    """Remembers that the process was asked to stop (see `raise_if_stopped`)."""
    global _stop_signal
    _stop_signal = signum


def raise_if_stopped():
    """Raises `Interrupted` again for a stop the process was asked for.

    A signal handler raises wherever Python happens to be; inside a finalizer
    (`__del__`), Python prints the exception and drops it, and work would go on.
    """
    if _stop_signal is not None:
        raise Interrupted(_stop_signal)


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
