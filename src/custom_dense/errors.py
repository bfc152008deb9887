"""The project's error types: a bad setting, and a dataset that cannot be had."""


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


class DatasetUnavailableError(RuntimeError):
    """A dataset that is neither prepared locally nor downloadable right now."""


class TrainingDivergedError(RuntimeError):
    """Training produced a NaN loss and was stopped."""
