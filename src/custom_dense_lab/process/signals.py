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

_stop_signal = None  # the stop this process received
_exit_status = None  # see `exit_with`
_stops_only_noted = False  # see `note_stops_only`


def note_stop(signum):
    global _stop_signal
    _stop_signal = signum


def stop_requested():
    """The `Interrupted` for the stop this process was asked for, or `None`."""
    return None if _stop_signal is None else Interrupted(_stop_signal)


def raise_if_stopped():
    """Raises `Interrupted` for a stop received, which a finalizer or a library may have dropped."""
    stop = stop_requested()
    if stop is not None:
        raise stop


def raise_on_stop_signals():
    _handle_stop_signals(_raise_interrupted)


def exit_on_stop_signals(when=None, stderr_fd=2):
    """Makes SIGINT and SIGTERM end the process at once (no `finally`), with one line that
    says `when` (e.g. `"while starting"`), written to `stderr_fd`."""
    _handle_stop_signals(lambda signum, frame: _exit_now(signum, when, stderr_fd))


def take_stops_to_the_end(when):
    """Makes a stop up to the process's very end give its status and one line (`when`): Python
    drops a signal that arrives after its exit functions (docs/architecture.md)."""
    atexit.register(_end_process, when)


def exit_with(code):
    """The status the process ends with at `take_stops_to_the_end`'s end (a `SystemExit` code)."""
    global _exit_status
    _exit_status = 0 if code is None else code if isinstance(code, int) else 1


@contextlib.contextmanager
def stops_deferred():
    """Only notes SIGINT and SIGTERM in the block: a second Ctrl-C must not cut a closing short."""
    with _stop_handler_in_block(lambda signum, frame: note_stop(signum)):
        yield


@contextlib.contextmanager
def stops_at_checkpoints():
    """Holds a first stop until the next `raise_if_stopped` (and the block's end); a second
    raises. An exception raised inside TensorFlow's runtime can leave its memory corrupt."""
    with _stop_handler_in_block(_note_first_stop_raise_second):
        yield
    raise_if_stopped()


def note_stops_only():
    """Makes every stop a note, for a backend's worker, whose caller passes each stop on once."""
    global _stops_only_noted
    _stops_only_noted = True
    _handle_stop_signals(lambda signum, frame: note_stop(signum))


def exit_if_stopped(when):
    """Ends the process as `exit_on_stop_signals` would, if a stop was noted and not acted on."""
    if _stop_signal is not None:
        _exit_now(_stop_signal, when, 2)


@contextlib.contextmanager
def _stop_handler_in_block(handler):
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    _handle_stop_signals(handler)
    try:
        yield
    finally:
        for signum, handler_before in previous.items():
            _handle_stop_signals(handler_before, (signum,))


def _handle_stop_signals(handler, signums=STOP_SIGNALS):
    if threading.current_thread() is threading.main_thread():
        for signum in signums:
            signal.signal(signum, handler)


def _raise_interrupted(signum, frame):
    note_stop(signum)
    raise Interrupted(signum)


def _note_first_stop_raise_second(signum, frame):
    if _stop_signal is not None and not _stops_only_noted:
        _raise_interrupted(signum, frame)
    note_stop(signum)


def _end_process(when):
    if _exit_status is None:  # an exception on its way out: Python ends the process
        return
    exit_on_stop_signals(when)
    logging.shutdown()  # what the exit functions registered before this one would flush
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # one caught already is acted on here
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.flush()
    for signum in sorted(signal.sigpending() & set(STOP_SIGNALS)):
        _exit_now(signum, when, 2)
    os._exit(_exit_status)


def _exit_now(signum, when, stderr_fd):
    stop = Interrupted(signum)
    line = f"error: {stop} {when}" if when else f"error: {stop}"
    # os.write: the handler may have cut into a print. The descriptor may be gone (start-up).
    with contextlib.suppress(OSError):
        os.write(stderr_fd, f"{line}\n".encode())
    os._exit(stop.exit_status)
