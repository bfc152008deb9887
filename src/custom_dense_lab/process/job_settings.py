"""Process-wide settings a job changes for itself, and puts back when it ends."""

import contextlib

import keras
import tensorflow as tf

# TensorFlow's public API can turn op determinism on, but not read it or turn it off.
from tensorflow.python.framework.config import disable_op_determinism, is_op_determinism_enabled


@contextlib.contextmanager
def job_settings(precision, deterministic):
    """Applies one job's dtype policy and op determinism, and restores both after.

    Jobs of an in-process sweep share the process: what one job turns on must
    not leak into the next.

    Args:
        precision: A Keras dtype policy name, e.g. `"mixed_bfloat16"`.
        deterministic: Whether TensorFlow ops must run deterministically.
    """
    previous_policy = keras.config.dtype_policy()
    was_deterministic = is_op_determinism_enabled()
    keras.config.set_dtype_policy(precision)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous_policy)
        if deterministic and not was_deterministic:
            disable_op_determinism()
