"""The lab's error types."""

import signal

from hydra.errors import CompactHydraException


class ConfigError(ValueError):
    """A setting the project cannot use: one line naming the key, the value and what is accepted."""

    def __init__(self, key, value, accepted):
        self.key, self.value, self.accepted = key, value, accepted
        super().__init__(f"Invalid {key}={value!r}: expected {accepted}.")

    def __reduce__(self):  # raised in a backend's worker process, and again in its caller
        return type(self), (self.key, self.value, self.accepted)


class TrackingServerUnreachableError(ConfigError, CompactHydraException):
    """No MLflow tracking server answers at the URI (Hydra prints it in one line)."""


class SweepNotFoundError(LookupError):
    """No sweep parent run where one was asked for."""


class DatasetUnavailableError(RuntimeError):
    """A dataset neither prepared locally nor downloadable now."""


class TrainingDivergedError(RuntimeError):
    """Training produced a NaN or infinite loss and was stopped."""


class JobInterruptedError(RuntimeError):
    """A sweep's job in a worker process was stopped: an ordinary failure to its launcher."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM: runs end KILLED. A `BaseException`, so `except Exception` lets it by."""

    def __init__(self, signum):
        self.signum = signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")

    def __reduce__(self):
        return type(self), (self.signum,)

    @property
    def exit_status(self):
        """The shell's status for the signal: 128 + its number."""
        return 128 + self.signum

    @classmethod
    def from_exception(cls, stop):
        """`stop` as an `Interrupted`; a `KeyboardInterrupt` is SIGINT."""
        return stop if isinstance(stop, cls) else cls(signal.SIGINT)


class StorageFullError(BaseException):
    """A full or read-only disk: the sweep stops (Hydra's launchers go on after an `Exception`)."""
