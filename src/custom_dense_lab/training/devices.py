"""Which device a job runs on: `device=auto|cpu|gpu` resolved on the active Keras backend."""

import contextlib
import platform
import re
from pathlib import Path
from typing import NamedTuple

import keras

from custom_dense_lab.errors import ConfigError


class Placement(NamedTuple):
    """`kind` `"cpu"` or `"gpu"`; `spec` for `keras.device`, `"cpu"` (PyTorch would copy a
    variable placed on `cpu:0` at every step) or `"gpu:0"`; `name`, the CPU model or GPU name."""

    kind: str
    spec: str
    name: str


def resolve_device(requested):
    """The `Placement` of `"auto"` (the first GPU, else the CPU), `"cpu"` or `"gpu"`."""
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = [
            tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
            for gpu in tf.config.list_physical_devices("GPU")
        ]
    elif backend == "jax":
        import jax

        gpus = [d.device_kind for d in jax.devices() if d.platform == "gpu"]
    else:
        import torch

        gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    if requested == "gpu" and not gpus:
        accepted = (
            f"a device Keras's {backend} backend can see: cpu or auto (no GPU is visible here)"
        )
        raise ConfigError("device", "gpu", accepted)
    if requested != "cpu" and gpus:
        return Placement("gpu", "gpu:0", gpus[0])
    name = platform.machine()
    with contextlib.suppress(OSError, TypeError):  # no /proc/cpuinfo, or no model name in it
        name = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)[1]
    return Placement("cpu", "cpu", name.strip())


def device_kind_of(variable):
    """`"gpu"` or `"cpu"`: where a variable, and so its layer's ops, lives."""
    device = str(variable.value.device).lower()
    return "gpu" if "gpu" in device or "cuda" in device else "cpu"
