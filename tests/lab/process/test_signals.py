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


def test_in_tensorflow_work_a_stop_waits_for_the_checkpoint_and_the_handlers_come_back():
    before = {signum: signal.getsignal(signum) for signum in signals.STOP_SIGNALS}
    reached_the_checkpoint = False
    with pytest.raises(Interrupted) as raised, signals.stops_at_checkpoints():
        os.kill(os.getpid(), signal.SIGTERM)  # in the middle of a training step, say
        reached_the_checkpoint = True
    assert reached_the_checkpoint and raised.value.exit_status == 143
    assert {signum: signal.getsignal(signum) for signum in signals.STOP_SIGNALS} == before


def test_in_tensorflow_work_a_second_stop_raises_at_once():
    with pytest.raises(Interrupted) as raised, signals.stops_at_checkpoints():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        raise AssertionError("the second stop did not raise")
    assert raised.value.exit_status == 130
