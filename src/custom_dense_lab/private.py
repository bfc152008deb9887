"""The lab's only calls to names other libraries keep private, each where no public API does it;
the tests named beside each fail when the library changes it."""


def hydra_argument_parser():
    """Hydra's own command-line parser, which `hydra.main` uses and does not expose: the lab reads
    its flags before TensorFlow loads (tests/lab/config/test_command_line.py)."""
    from hydra._internal.utils import get_args_parser

    return get_args_parser()


def tensorflow_op_determinism():
    """`(is_on, turn(on))` of TensorFlow's deterministic ops: its public API turns them on but
    neither reads nor turns them off (tests/lab/training/test_job.py)."""
    import tensorflow as tf
    from tensorflow.python.framework import config

    def turn(on):
        (tf.config.experimental.enable_op_determinism if on else config.disable_op_determinism)()

    return config.is_op_determinism_enabled, turn
