"""Start-up of the programs, and of sweep workers that import them: TensorFlow without its chatter."""

import atexit
import gc
import logging
import os
import warnings

# MLflow's local dataset source, registered twice; TFDS's readers; `Model.quantize` of layers
# with no weights.
_KNOWN_HARMLESS_WARNINGS = (
    "The specified dataset source can be interpreted in multiple ways",
    "calling DatasetV2.from_generator",
    "Layer InputLayer does not have a `quantize` method",
    "Layer Flatten does not have a `quantize` method",
)


def quiet_start(import_tensorflow=True):
    """Imports TensorFlow (unless `import_tensorflow` is false) with descriptor 2 muted, quiets
    MLflow and known-harmless warnings; a stop ends the process in one line until then."""
    gc.disable()  # until the imports are done (docs/architecture.md)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # its C++ errors too: notes here
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # Offline, its thread deletes a variable while a job reads the environment: KeyError.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ["PYTHONWARNINGS"] = ",".join(f"ignore:{text}" for text in _KNOWN_HARMLESS_WARNINGS)
    try:
        from custom_dense_lab.process.signals import exit_on_stop_signals

        if import_tensorflow:
            saved = os.dup(2)
            with open(os.devnull, "w") as devnull:
                os.dup2(devnull.fileno(), 2)
            try:
                exit_on_stop_signals("while starting, before any run", saved)
                import tensorflow  # noqa: F401 -- imported here, quietly, for the whole process
            finally:
                os.dup2(saved, 2)
                os.close(saved)
        exit_on_stop_signals("while starting, before any run")
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
    # The imports' objects, and at exit all objects, stay out of the cyclic collector.
    gc.freeze()
    gc.enable()
    atexit.register(gc.freeze)
