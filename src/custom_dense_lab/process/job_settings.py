"""Process-wide settings a job changes for itself, and puts back when it ends."""

import contextlib
import os

import keras

_NO_SWITCH = (lambda: False, lambda on: None)


@contextlib.contextmanager
def job_settings(precision, deterministic):
    """One job's dtype policy and its backend's deterministic ops, restored after it (JAX's ops
    are deterministic already on a CPU; on a GPU: `--xla_gpu_deterministic_ops`)."""
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    is_on, turn = _determinism_switch() if deterministic else _NO_SWITCH
    was_on = is_on()
    turn(True)
    try:
        yield
    finally:
        turn(was_on)
        keras.config.set_dtype_policy(previous_policy)


def _determinism_switch():
    """The backend's `(is deterministic, set deterministic)` functions."""
    backend = keras.config.backend()
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
    if backend == "torch":
        import torch

        # cuBLAS refuses deterministic matmuls without a fixed workspace (NVIDIA's value).
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        return torch.are_deterministic_algorithms_enabled, torch.use_deterministic_algorithms
    return _NO_SWITCH
