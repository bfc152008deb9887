"""Which device a job runs on: resolving `device=auto|cpu|gpu` on the active Keras backend."""

import platform
from dataclasses import dataclass

import keras

from custom_dense_lab.errors import ConfigError


@dataclass(frozen=True)
class Placement:
    """A resolved device.

    Args:
        kind: `"cpu"` or `"gpu"`.
        spec: The device for `keras.device`, on every backend: `"cpu"` or `"gpu:0"`
            (PyTorch keeps CPU tensors on `cpu`, not `cpu:0`, and would copy a
            variable placed on the latter at every step, losing its gradient).
        name: The hardware's model name (CPU model or GPU name).
    """

    kind: str
    spec: str
    name: str


def resolve_device(requested):
    """Resolves a `device` option to a `Placement`, on the active Keras backend.

    Args:
        requested: `"auto"` (the first GPU if there is one, else the CPU),
            `"cpu"` or `"gpu"`.

    Returns:
        A `Placement`.

    Raises:
        ConfigError: `"gpu"` was requested and the backend sees no GPU.
    """
    gpus = gpu_names()
    if requested == "gpu" and not gpus:
        raise ConfigError(
            "device",
            "gpu",
            f"a device Keras's {keras.config.backend()} backend can see: cpu or auto "
            "(no GPU is visible here)",
        )
    if requested in ("gpu", "auto") and gpus:
        return Placement("gpu", "gpu:0", gpus[0])
    return Placement("cpu", "cpu", cpu_model_name())


def gpu_names():
    """The names of the GPUs the active Keras backend can use, in its order."""
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
        except RuntimeError:  # jax was installed without a GPU backend
            return []
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())]
    return []


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
    """Returns `"gpu"` or `"cpu"`: where a variable (and so its layer's ops) lives.

    The backends name a device differently: TensorFlow `.../device:GPU:0`, JAX
    `cuda:0`, PyTorch `cuda:0`; each names a CPU with "cpu" in it.
    """
    device = str(variable.value.device).lower()
    return "gpu" if "gpu" in device or "cuda" in device else "cpu"
