"""Start-up of the programs, and of sweep workers that import them: TensorFlow without its chatter."""

import atexit
import contextlib
import gc
import logging
import os
import warnings

_WHILE_STARTING = "while starting, before any run"
_KNOWN_HARMLESS_WARNINGS = (
    # MLflow registers its local-file dataset source twice and warns on every resolve.
    "The specified dataset source can be interpreted in multiple ways",
    # TFDS's mock and readers use a deprecated tf.data signature.
    "calling DatasetV2.from_generator",
    # `keras.Model.quantize` says it of every layer with no weights to quantize.
    "Layer InputLayer does not have a `quantize` method",
    "Layer Flatten does not have a `quantize` method",
)


def quiet_start(import_tensorflow=True):
    """Imports TensorFlow (unless `import_tensorflow` is false) with descriptor 2 muted, quiets
    MLflow and known-harmless warnings, and says in one line what to install where a package
    is missing. A stop ends the process with one line until the program takes over.
    """
    # 3: TensorFlow's C++ errors too, which are notes here, such as which int8 matmul kernel
    # runs on this CPU; a real failure reaches Python as an exception.
    gc.disable()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # Offline (a compute node, say), MLflow's telemetry thread gives up and deletes an
    # environment variable while the job's first request reads the environment: KeyError, job lost.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ["PYTHONWARNINGS"] = ",".join(f"ignore:{text}" for text in _KNOWN_HARMLESS_WARNINGS)
    try:
        from custom_dense_lab.process.signals import exit_on_stop_signals

        if import_tensorflow:
            with _stderr_to_devnull() as stderr_fd:
                exit_on_stop_signals(_WHILE_STARTING, stderr_fd)
                import tensorflow  # noqa: F401 -- imported here, quietly, for the whole process
        exit_on_stop_signals(_WHILE_STARTING)
        import absl.logging
        import hydra  # noqa: F401
        import mlflow  # noqa: F401 -- sets up its loggers as it loads: quiet them after
    except ModuleNotFoundError as missing:
        raise SystemExit(
            f"error: the lab needs its own packages and TensorFlow (no module {missing.name!r}):"
            " pip install 'custom-dense[lab,tensorflow-cpu]' (or [lab,tensorflow] for a GPU)"
        ) from None

    from custom_dense_lab.tracking.store import explain_http_retries

    absl.logging.set_verbosity(absl.logging.ERROR)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    # Logs each database error with its traceback, then raises it: the lab says it in one line.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    logging.getLogger("optuna").setLevel(logging.WARNING)  # Hydra's sweeper logs each trial
    explain_http_retries()  # one short line a retry while the tracking server is away
    for message in _KNOWN_HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    _spare_collector()


def _spare_collector():
    """Leaves the imports' objects, and at exit all objects, out of the cyclic collector: millions
    live as long as the process (docs/architecture.md)."""
    gc.freeze()
    gc.enable()
    atexit.register(gc.freeze)


@contextlib.contextmanager
def _stderr_to_devnull():
    """Yields a copy of descriptor 2, which goes to /dev/null in the block."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield saved
    finally:
        os.dup2(saved, 2)
        os.close(saved)
