"""Process-wide settings a job changes for itself, and puts back when it ends."""

import contextlib
import os

import keras

from custom_dense_lab import private


@contextlib.contextmanager
def job_settings(precision, deterministic):
    """One job's dtype policy and its backend's deterministic ops, restored after it (JAX's ops
    are deterministic already on a CPU; on a GPU: `--xla_gpu_deterministic_ops`)."""
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    is_on, turn = lambda: False, lambda on: None
    if deterministic and keras.config.backend() == "tensorflow":
        is_on, turn = private.tensorflow_op_determinism()
    elif deterministic and keras.config.backend() == "torch":
        import torch

        # cuBLAS refuses deterministic matmuls without a fixed workspace (NVIDIA's value).
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        is_on, turn = torch.are_deterministic_algorithms_enabled, torch.use_deterministic_algorithms
    was_on = is_on()
    turn(True)
    try:
        yield
    finally:
        turn(was_on)
        keras.config.set_dtype_policy(previous_policy)
