"""Process-wide settings a job changes for itself, and puts back when it ends."""

import contextlib
import os

import keras


@contextlib.contextmanager
def job_settings(precision, deterministic):
    """One job's dtype policy and its backend's deterministic ops, restored after it.

    JAX's ops are deterministic already on the CPU (on a GPU: `--xla_gpu_deterministic_ops`).
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
    is_on, turn = _determinism_switch(backend)
    was_on = is_on()
    turn(True)
    try:
        yield
    finally:
        turn(was_on)


def _determinism_switch(backend):
    """The backend's `(is deterministic, set deterministic)` functions."""
    if backend == "tensorflow":
        # The lab's one private call: TensorFlow's public API turns op determinism on, but
        # neither reads it nor turns it off (tests/lab/training: a deterministic job, then not).
        import tensorflow as tf
        from tensorflow.python.framework import config

        def turn(on):
            (
                tf.config.experimental.enable_op_determinism
                if on
                else config.disable_op_determinism
            )()

        return config.is_op_determinism_enabled, turn
    import torch

    # cuBLAS refuses deterministic matmuls without a fixed workspace (NVIDIA's documented value).
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return torch.are_deterministic_algorithms_enabled, torch.use_deterministic_algorithms
