"""The lab's error types: a bad setting, an unreachable server, no sweep, no data,
divergence, and an interrupt."""

import signal

from hydra.errors import CompactHydraException


class ConfigError(ValueError):
    """A setting with a value the project cannot use.

    Args:
        key: The dotted config key, e.g. `"model.units"`.
        value: The value received.
        accepted: What would be accepted, in words, e.g. `"a positive integer"`.
    """

    def __init__(self, key, value, accepted):
        self.key = key
        self.value = value
        self.accepted = accepted
        super().__init__(f"Invalid {key}={value!r}: expected {accepted}.")

    def __reduce__(self):  # a job in another process raises it here too (`process.backends`)
        return type(self), (self.key, self.value, self.accepted)


class TrackingServerUnreachableError(ConfigError, CompactHydraException):
    """A tracking URI where no MLflow tracking server answers.

    Hydra prints it as its one-line message, without a traceback.
    """


class SweepNotFoundError(LookupError):
    """No sweep parent run where one was asked for."""


class DatasetUnavailableError(RuntimeError):
    """A dataset that is neither prepared locally nor downloadable right now."""


class TrainingDivergedError(RuntimeError):
    """Training produced a NaN or infinite loss and was stopped."""


class JobInterruptedError(RuntimeError):
    """A sweep's job, in a worker process, was asked to stop; its run is recorded KILLED.

    Raised instead of `Interrupted` where the launcher (joblib, submitit) must
    see an ordinary failure of the job to record it and carry on.
    """


class Interrupted(BaseException):
    """The process was asked to stop (SIGINT or SIGTERM): runs end KILLED, the sweep stops.

    A `BaseException`, like `KeyboardInterrupt`, so that no `except Exception`
    on the way swallows it.

    Args:
        signum: The signal received.
    """

    def __init__(self, signum):
        self.signum = signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")

    def __reduce__(self):
        return type(self), (self.signum,)

    @property
    def exit_status(self):
        """The shell's convention for a process ended by the signal: 128 + its number."""
        return 128 + self.signum

    @classmethod
    def from_exception(cls, stop):
        """Returns `stop` as an `Interrupted`; a `KeyboardInterrupt` is SIGINT."""
        return stop if isinstance(stop, cls) else cls(signal.SIGINT)


class StorageFullError(BaseException):
    """The disk of the store, the artifacts or the outputs is full or read-only: the sweep stops.

    Every later job would fail the same way. A `BaseException`, like
    `Interrupted`, because Hydra's launchers catch every `Exception` of a job
    and go on with the next.
    """
