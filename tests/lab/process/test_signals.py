"""The stop signals' stages, with real signals sent to this process."""

import os
import signal

import pytest

from custom_dense_lab.errors import Interrupted
from custom_dense_lab.process import signals


@pytest.fixture(autouse=True)
def _handlers_put_back(monkeypatch):
    monkeypatch.setattr(signals, "_stop_signal", None)
    handlers = {signum: signal.getsignal(signum) for signum in signals.STOP_SIGNALS}
    yield
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def test_a_stop_while_closing_is_noted_and_acted_on_after():
    signals.raise_on_stop_signals()
    with signals.stops_deferred():
        os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C while the sweep closes
        assert signals.stop_requested().exit_status == 130
    with pytest.raises(Interrupted):  # the handlers are back
        os.kill(os.getpid(), signal.SIGTERM)
