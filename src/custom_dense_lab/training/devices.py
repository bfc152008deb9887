"""Which device a job runs on: `device=auto|cpu|gpu` resolved on the active Keras backend."""

import contextlib
import platform
from dataclasses import dataclass

import keras

from custom_dense_lab.errors import ConfigError


@dataclass(frozen=True)
class Placement:
    """`kind` `"cpu"` or `"gpu"`; `spec` for `keras.device`, `"cpu"` (PyTorch would copy a
    variable placed on `cpu:0` at every step) or `"gpu:0"`; `name`, the CPU model or GPU name."""

    kind: str
    spec: str
    name: str


def resolve_device(requested):
    """The `Placement` of `"auto"` (the first GPU, else the CPU), `"cpu"` or `"gpu"` (a
    `ConfigError` where the backend sees none)."""
    gpus = _gpu_names()
    if requested == "gpu" and not gpus:
        raise ConfigError(
            "device",
            "gpu",
            f"a device Keras's {keras.config.backend()} backend can see: cpu or auto "
            "(no GPU is visible here)",
        )
    if requested in ("gpu", "auto") and gpus:
        return Placement("gpu", "gpu:0", gpus[0])
    return Placement("cpu", "cpu", _cpu_model_name())


def device_kind_of(variable):
    """`"gpu"` or `"cpu"`: where a variable, and so its layer's ops, lives."""
    device = str(variable.value.device).lower()
    return "gpu" if "gpu" in device or "cuda" in device else "cpu"


def _gpu_names():
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return [
            tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
            for gpu in tf.config.list_physical_devices("GPU")
        ]
    if backend == "jax":
        import jax

        try:
            return [device.device_kind for device in jax.devices("gpu")]
        except RuntimeError:  # jax without a GPU backend
            return []
    import torch

    return [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())]


def _cpu_model_name():
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()
