"""Which device a job runs on: resolving `device=auto|cpu|gpu` and describing it."""

import platform
from dataclasses import dataclass

import tensorflow as tf

from custom_dense_lab.errors import ConfigError


@dataclass(frozen=True)
class Placement:
    """A resolved device.

    Args:
        kind: `"cpu"` or `"gpu"`.
        spec: The TensorFlow device string for `tf.device`, e.g. `"/GPU:0"`.
        name: The hardware's model name (CPU model or GPU name).
    """

    kind: str
    spec: str
    name: str


def resolve_device(requested):
    """Resolves a `device` option to a `Placement`.

    Args:
        requested: `"auto"` (the first GPU if there is one, else the CPU),
            `"cpu"` or `"gpu"`.

    Returns:
        A `Placement`.

    Raises:
        ConfigError: `"gpu"` was requested and TensorFlow sees no GPU.
    """
    gpus = tf.config.list_physical_devices("GPU")
    if requested == "gpu" and not gpus:
        raise ConfigError(
            "device", "gpu", "a device TensorFlow can see: cpu or auto (no GPU is visible here)"
        )
    if requested in ("gpu", "auto") and gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return Placement("gpu", "/GPU:0", details.get("device_name", gpus[0].name))
    return Placement("cpu", "/CPU:0", cpu_model_name())


def cpu_model_name():
    """Returns the CPU's model name, as the OS reports it."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_kind_of(variable):
    """Returns `"gpu"` or `"cpu"`: where a variable (and so its layer's ops) lives."""
    return "gpu" if "GPU" in variable.value.device.upper() else "cpu"
