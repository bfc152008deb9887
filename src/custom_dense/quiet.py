"""Start-up of the command-line entry points: TensorFlow without its log chatter.

`python -m custom_dense.<entry>` imports the package, and so TensorFlow, before
the entry module runs; the package therefore asks `wants_quiet_start()` first.
Worker processes of a sweep (joblib, submitit) inherit the quiet start through
the environment. Imported as a library, custom_dense changes no logging and no
warnings.
"""

import contextlib
import logging
import os
import sys
import warnings

ENTRY_POINTS = ("train", "compare", "bench", "studies")
# Set by an entry point, so that the sweep workers it starts start quietly too.
QUIET_ENV = "CUSTOM_DENSE_QUIET_START"

_KNOWN_HARMLESS_WARNINGS = (
    # MLflow registers its local-file dataset source twice and warns on every resolve.
    "The specified dataset source can be interpreted in multiple ways",
    # TFDS's mock and readers use a deprecated tf.data signature.
    "calling DatasetV2.from_generator",
)


def started_as_entry_point():
    """Whether this process was started as `python -m custom_dense.<entry point>`."""
    argv = sys.orig_argv
    if "-m" not in argv[:-1]:
        return False
    module = argv[argv.index("-m") + 1]
    return module in {f"custom_dense.{entry}" for entry in ENTRY_POINTS}


def wants_quiet_start():
    """Whether this process is an entry point, or a worker process one of them started."""
    return started_as_entry_point() or os.environ.get(QUIET_ENV) == "1"


def quiet_start():
    """Imports TensorFlow with C++ and absl start-up logs hidden, and mutes known noise."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ[QUIET_ENV] = "1"
    with _stderr_to_devnull():
        import tensorflow as tf
    tf.get_logger().setLevel(logging.ERROR)
    import absl.logging
    import mlflow  # noqa: F401 -- configures its loggers on import; quiet them after.
    import tensorflow_datasets as tfds

    absl.logging.set_verbosity(absl.logging.ERROR)
    tfds.disable_progress_bar()
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("optuna").setLevel(logging.WARNING)  # Hydra's sweeper logs each trial
    for message in _KNOWN_HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=message)


@contextlib.contextmanager
def _stderr_to_devnull():
    """Sends file descriptor 2 to /dev/null: the C++ runtime logs before absl is set up."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
