"""SIGINT and SIGTERM as `Interrupted`, so that a stopped job or sweep is recorded as KILLED.

A program goes through three stages, each with its own answer to a stop signal:

1. starting up, before any run exists: one line and the exit status at once
   (`exit_on_stop_signals`);
2. working: `Interrupted` is raised, so that open runs end KILLED
   (`raise_on_stop_signals`); while a job's model trains and is measured, at
   the next checkpoint between steps (`stops_at_checkpoints`), since an
   exception raised in the middle of TensorFlow's work can leave its memory
   corrupt;
3. done, every run closed: one line and the exit status at once, the runs
   left as they ended (`exit_on_stop_signals` again).

The exit status is always the shell's for the signal: 130 for SIGINT, 143 for SIGTERM.
"""

import contextlib
import os
import signal
import threading

from custom_dense_lab.errors import Interrupted

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

# The stop signal this process received, once a handler raised `Interrupted` for it.
_stop_signal = None
# Whether every stop is only noted, to be acted on at the next checkpoint (`note_stops_only`).
_stops_only_noted = False


def note_stop(signum):
    """Remembers that the process was asked to stop (see `raise_if_stopped`)."""
    global _stop_signal
    _stop_signal = signum


def stop_requested():
    """The `Interrupted` for the stop this process was asked for, or `None`."""
    return None if _stop_signal is None else Interrupted(_stop_signal)


def raise_if_stopped():
    """Raises `Interrupted` again for a stop the process was asked for.

    A signal handler raises wherever Python happens to be; inside a finalizer
    (`__del__`) or a library that catches everything, the exception is
    dropped, and work would go on.
    """
    stop = stop_requested()
    if stop is not None:
        raise stop


def raise_on_stop_signals():
    """Makes SIGINT and SIGTERM raise `Interrupted` in this process's main thread.

    SIGTERM would otherwise end the process at once, with its runs left
    RUNNING. Does nothing outside the main thread, where Python cannot take
    signals.
    """
    _handle_stop_signals(_raise_interrupted)


def exit_on_stop_signals(when=None, stderr_fd=2):
    """Makes SIGINT and SIGTERM end the process at once, with one line and their exit status.

    For the stages where no run is open: before the first one, and after the
    last one ended. Nothing runs after the line, neither `finally` blocks nor
    exit handlers, so nothing recorded can change.

    Args:
        when: What the process was doing, for the line, e.g. `"while starting"`.
        stderr_fd: Where the line goes: the file descriptor of the process's
            standard error, while descriptor 2 points elsewhere.
    """
    _handle_stop_signals(lambda signum, frame: _exit_now(signum, when, stderr_fd))


@contextlib.contextmanager
def stops_deferred():
    """Notes SIGINT and SIGTERM without acting on them, then puts the handlers back.

    For closing what a stop interrupted: a second Ctrl-C while the sweep's
    parent is being closed must not leave it half-closed. After the block,
    `stop_requested()` says whether one came.
    """
    with _stop_handler_in_block(lambda signum, frame: note_stop(signum)):
        yield


@contextlib.contextmanager
def stops_at_checkpoints():
    """Holds a first SIGINT or SIGTERM until the next `raise_if_stopped`, then puts the handlers back.

    For work inside TensorFlow's runtime: a training step, an evaluation, a
    timed call. The work calls `raise_if_stopped` between its steps (a Keras
    callback, a timing loop), and the block calls it once more at its end. A
    second stop, when the first was not acted on yet, raises at once: a user
    who presses Ctrl-C twice does not wait for a long step.
    """
    with _stop_handler_in_block(_note_first_stop_raise_second):
        yield
    raise_if_stopped()


def note_stops_only():
    """Makes every SIGINT and SIGTERM of this process a note, acted on at the next checkpoint.

    For a process whose stops come from another one (a backend's worker, see
    `backends`): that process passes each stop on once and decides how long
    to wait; a second stop never raises inside the runtime here.
    """
    global _stops_only_noted
    _stops_only_noted = True
    _handle_stop_signals(lambda signum, frame: note_stop(signum))


def exit_if_stopped(when):
    """Ends the process as `exit_on_stop_signals` would, if a stop was noted and not acted on."""
    if _stop_signal is not None:
        _exit_now(_stop_signal, when, 2)


@contextlib.contextmanager
def _stop_handler_in_block(handler):
    """`handler` for SIGINT and SIGTERM in the block, the previous handlers after it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    _handle_stop_signals(handler)
    try:
        yield
    finally:
        for signum, handler_before in previous.items():
            signal.signal(signum, handler_before)


def _handle_stop_signals(handler):
    if threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:
            signal.signal(signum, handler)


def _raise_interrupted(signum, frame):
    note_stop(signum)  # training checks it too, in case the exception below is dropped
    raise Interrupted(signum)


def _note_first_stop_raise_second(signum, frame):
    if _stop_signal is not None and not _stops_only_noted:
        _raise_interrupted(signum, frame)
    note_stop(signum)


def _exit_now(signum, when, stderr_fd):
    stop = Interrupted(signum)
    line = f"error: {stop} {when}" if when else f"error: {stop}"
    # os.write, not print: the handler may have cut into a print to the same stream. The
    # descriptor may be gone, in the instant start-up gives fd 2 back.
    with contextlib.suppress(OSError):
        os.write(stderr_fd, f"{line}\n".encode())
    os._exit(stop.exit_status)
