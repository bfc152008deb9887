"""Process-wide settings a job changes for itself, and puts back when it ends."""

import contextlib
import os

import keras


@contextlib.contextmanager
def job_settings(precision, deterministic):
    """Applies one job's dtype policy and op determinism, and restores both after.

    Jobs of an in-process sweep share the process: what one job turns on must
    not leak into the next. Determinism is the backend's own switch:
    TensorFlow's op determinism, PyTorch's deterministic algorithms; JAX's
    operations are deterministic already on the CPU, and XLA's GPU ones
    with `--xla_gpu_deterministic_ops` in `XLA_FLAGS`.

    Args:
        precision: A Keras dtype policy name, e.g. `"mixed_bfloat16"`.
        deterministic: Whether ops must run deterministically.
    """
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    with _determinism(deterministic):
        try:
            yield
        finally:
            keras.config.set_dtype_policy(previous_policy)


@contextlib.contextmanager
def _determinism(deterministic):
    backend = keras.config.backend()
    if not deterministic or backend == "jax":
        yield
        return
    if backend == "tensorflow":
        import tensorflow as tf

        # TensorFlow's public API can turn op determinism on, but not read it or turn it off.
        from tensorflow.python.framework.config import (
            disable_op_determinism,
            is_op_determinism_enabled,
        )

        was_deterministic = is_op_determinism_enabled()
        tf.config.experimental.enable_op_determinism()
        try:
            yield
        finally:
            if not was_deterministic:
                disable_op_determinism()
        return
    if backend != "torch":
        raise ValueError(f"no deterministic mode for the Keras backend {backend!r}")
    import torch

    # cuBLAS refuses deterministic matmuls without a fixed workspace (NVIDIA's documented value).
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
