"""SIGINT and SIGTERM: one line and exit at once with no run open, else `Interrupted`, so that
open runs end KILLED; inside TensorFlow's work, at the next checkpoint (docs/ending.md)."""

import atexit
import contextlib
import logging
import os
import signal
import sys
import threading

from custom_dense_lab.errors import Interrupted

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_stop_signal = _exit_status = None  # the stop this process received; see `exit_with`


def note_stop(signum, frame=None):
    global _stop_signal
    _stop_signal = signum


def stop_requested():
    """The `Interrupted` for the stop this process was asked for, or `None`."""
    return None if _stop_signal is None else Interrupted(_stop_signal)


def raise_if_stopped(signum=None, frame=None):
    """Raises `Interrupted` for a stop noted (or `signum`'s), which a library may have dropped."""
    note_stop(signum or _stop_signal)
    if _stop_signal is not None:
        raise Interrupted(_stop_signal)


def _handle(handler, signums=STOP_SIGNALS):
    if threading.current_thread() is threading.main_thread():
        for signum in signums:
            signal.signal(signum, handler)


def raise_on_stop_signals():
    _handle(raise_if_stopped)


def exit_on_stop_signals(when=None, stderr_fd=2):
    """Makes a stop end the process at once (no `finally`), with one line that says `when`."""
    _handle(lambda signum, frame: _exit_now(signum, when, stderr_fd))


@contextlib.contextmanager
def stops_deferred(handler=note_stop):
    """Only notes a stop in the block: a second Ctrl-C must not cut a closing short."""
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    _handle(handler)
    try:
        yield
    finally:
        for signum, before in previous.items():
            _handle(before, (signum,))


@contextlib.contextmanager
def stops_at_checkpoints():
    """Holds a first stop until the next `raise_if_stopped` (and the block's end); a second
    raises. An exception raised inside TensorFlow's runtime can leave its memory corrupt."""
    with stops_deferred(lambda s, _: (raise_if_stopped if _stop_signal else note_stop)(s)):
        yield
    raise_if_stopped()


def exit_with(code):
    """The status the process ends with at `take_stops_to_the_end`'s end (a `SystemExit` code)."""
    global _exit_status
    _exit_status = 0 if code is None else code if isinstance(code, int) else 1


def take_stops_to_the_end(when):
    """Makes a stop up to the process's very end give its status and one line (`when`): Python
    drops a signal that arrives after its exit functions (docs/architecture.md)."""

    @atexit.register
    def end_process():
        if _exit_status is None:  # an exception on its way out: Python ends the process
            return
        exit_on_stop_signals(when)
        logging.shutdown()  # what the exit functions registered before this one would flush
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # one caught already acts here
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
            sys.stderr.flush()
        for signum in sorted(signal.sigpending() & set(STOP_SIGNALS)):
            _exit_now(signum, when, 2)
        os._exit(_exit_status)


def _exit_now(signum, when, stderr_fd):
    stop = Interrupted(signum)
    # os.write: the handler may have cut into a print. The descriptor may be gone (start-up).
    with contextlib.suppress(OSError):
        os.write(stderr_fd, f"error: {stop}{f' {when}' if when else ''}\n".encode())
    os._exit(stop.exit_status)
