"""The lab's error types."""

import signal

from hydra.errors import CompactHydraException


class ConfigError(ValueError):
    """A setting the lab cannot use: one line naming the key, the value and what is accepted."""

    def __init__(self, key, value, accepted):
        self.key, self.value, self.accepted = key, value, accepted
        super().__init__(f"Invalid {key}={value!r}: expected {accepted}.")

    def __reduce__(self):  # raised in a backend's worker process, and again in its caller
        return type(self), (self.key, self.value, self.accepted)


class TrackingServerUnreachableError(ConfigError, CompactHydraException):
    """No MLflow server answers at the URI (Hydra prints it in one line)."""


class SweepNotFoundError(LookupError):
    """No sweep parent run where one was asked for."""


class DatasetUnavailableError(RuntimeError):
    """A dataset neither prepared here nor downloadable now."""


class TrainingDivergedError(RuntimeError):
    """A NaN or infinite loss stopped training."""


class JobInterruptedError(RuntimeError):
    """A sweep's job in a worker process was stopped: an ordinary failure to its launcher."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM: runs end KILLED (a `BaseException`: `except Exception` lets it by)."""

    def __init__(self, signum):
        self.signum, self.exit_status = signum, 128 + signum  # the shell's status
        super().__init__(f"interrupted by {signal.Signals(signum).name}")

    def __reduce__(self):
        return type(self), (self.signum,)

    @classmethod
    def from_exception(cls, stop):
        return stop if isinstance(stop, cls) else cls(signal.SIGINT)  # KeyboardInterrupt: SIGINT


class StorageFullError(BaseException):
    """A full or read-only disk: the sweep stops (Hydra's launchers go on after an `Exception`)."""
