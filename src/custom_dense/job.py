"""One training job, start to finish: config -> data -> model -> fit -> measure -> MLflow."""

import sys
import time
import traceback

import keras
import mlflow
import tensorflow as tf

from custom_dense import tracking
from custom_dense.callbacks import EpochMetricsLogger
from custom_dense.data import load_dataset, log_dataset_inputs
from custom_dense.devices import device_kind_of, resolve_device
from custom_dense.errors import ConfigError, DatasetUnavailableError, TrainingDivergedError
from custom_dense.flops import training_matmul_flops
from custom_dense.models import build_mlp, build_optimizer
from custom_dense.timing import time_inference
from custom_dense.validation import validate_config

EXPECTED_FAILURES = (ConfigError, DatasetUnavailableError, TrainingDivergedError)
_INFERENCE_BATCH = 256


class PhaseClock:
    """Accumulates wall time per named phase of a job."""

    def __init__(self):
        self.started = time.perf_counter()
        self.seconds = {}
        self._mark = self.started

    def lap(self, phase):
        now = time.perf_counter()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - self._mark
        self._mark = now

    def total(self):
        return time.perf_counter() - self.started


def run_job(cfg, overrides, in_sweep, parent_run_id=None):
    """Trains and evaluates one model, recording everything in one MLflow run.

    The run is a child of the sweep's parent run when there is one, resumes the
    run `mlflow run` started when there is one, and is new otherwise. A failing
    job leaves its run FAILED with a `failure_reason` tag and returns `None`.

    Args:
        cfg: The composed job config.
        overrides: The job's command-line overrides, as Hydra lists them.
        in_sweep: Whether the job is part of a multirun.
        parent_run_id: The sweep's parent run, when there is one.

    Returns:
        The final metrics, or `None` when the job failed.
    """
    clock = PhaseClock()
    # Python's full garbage collection (free_memory=True) takes ~0.4 s a job in this process.
    keras.backend.clear_session(free_memory=False)
    adopted = parent_run_id or mlflow.environment_variables.MLFLOW_RUN_ID.get()
    experiment_id = tracking.configure_tracking(cfg.mlflow, adopted)
    run = mlflow.start_run(
        experiment_id=experiment_id,
        run_name=" ".join(overrides) or None,
        parent_run_id=parent_run_id,
    )
    label = " ".join(overrides) or "default config"
    try:
        mlflow.log_params(tracking.flatten_config(cfg))
        mlflow.set_tag("layer_impl", cfg.layer.name)
        validate_config(cfg)
        clock.lap("overhead_setup_s")
        metrics = _train_and_measure(cfg, overrides, in_sweep, clock)
    except Exception as error:
        reason = str(error) if isinstance(error, EXPECTED_FAILURES) else _describe(error)
        if not isinstance(error, EXPECTED_FAILURES):
            mlflow.log_text(traceback.format_exc(), "traceback.txt")
        tracking.tag_failure(run.info.run_id, reason)
        mlflow.end_run(status="FAILED")
        print(f"FAILED [{label}] {reason}", file=sys.stderr, flush=True)
        return None
    mlflow.end_run()
    print(
        f"done [{label}] test_accuracy={metrics['test_accuracy']:.4f} "
        f"step_time_ms={metrics['step_time_ms']:.3f} overhead_s={metrics['overhead_s']:.2f} "
        f"run_id={run.info.run_id}",
        flush=True,
    )
    return metrics


def _train_and_measure(cfg, overrides, in_sweep, clock):
    placement = resolve_device(cfg.device.name)
    if cfg.trainer.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(cfg.seed)
    bundle = load_dataset(cfg.dataset, cfg.trainer.batch_size, cfg.seed)
    log_dataset_inputs(bundle)
    clock.lap("overhead_data_s")

    keras.config.set_dtype_policy(cfg.trainer.precision)
    try:
        with tf.device(placement.spec):
            keras.utils.set_random_seed(cfg.seed)
            model = build_mlp(cfg.layer.name, bundle.input_shape, bundle.num_classes, cfg.model)
            model.compile(
                optimizer=build_optimizer(cfg.optimizer),
                loss=keras.losses.SparseCategoricalCrossentropy(),
                metrics=["accuracy"],
            )
            mlflow.set_tags(tracking.environment_tags(cfg.layer.name, placement))
            mlflow.set_tag("device", device_kind_of(model.weights[0]))
            clock.lap("overhead_build_s")

            epochs = EpochMetricsLogger()
            fit_started = time.perf_counter()
            history = model.fit(
                bundle.train,
                validation_data=bundle.validation,
                epochs=cfg.trainer.epochs,
                shuffle=False,  # the pipeline reshuffles every epoch with the job's seed
                callbacks=[keras.callbacks.TerminateOnNaN(), epochs],
                verbose=_verbosity(cfg.trainer.verbose, in_sweep),
            )
            fit_time_s = time.perf_counter() - fit_started
            clock.lap("fit")

            test = model.evaluate(bundle.test, return_dict=True, verbose=0)
            clock.lap("overhead_evaluate_s")
            sample = next(iter(bundle.test.unbatch().batch(_INFERENCE_BATCH)))[0].numpy()
            inference = time_inference(model, sample)
            clock.lap("overhead_inference_s")
    finally:
        keras.config.set_dtype_policy("float32")

    steady_epochs = epochs.epoch_times[1:] or epochs.epoch_times
    step_time_s = epochs.steady_state_step_time_s()
    step_flops = training_matmul_flops(model, cfg.trainer.batch_size)
    metrics = {
        "test_loss": float(test["loss"]),
        "test_accuracy": float(test["accuracy"]),
        "fit_time_s": fit_time_s,
        "first_epoch_time_s": epochs.epoch_times[0],
        "step_time_ms": step_time_s * 1000.0,
        "train_gflops": step_flops / step_time_s / 1e9,
        "train_throughput_sps": bundle.sizes["train"] * len(steady_epochs) / sum(steady_epochs),
        **inference,
        "param_count": float(model.count_params()),
    }
    tracking.log_job_artifacts(cfg, overrides, model)
    clock.lap("overhead_artifacts_s")
    if cfg.mlflow.log_model:
        tracking.log_model(model, sample[:4])
    clock.lap("overhead_log_model_s")

    phases = {name: s for name, s in clock.seconds.items() if name.startswith("overhead_")}
    overhead = clock.total() - clock.seconds["fit"]
    mlflow.log_metrics({**metrics, **phases, "overhead_s": overhead})
    return {**metrics, "overhead_s": overhead, "val_accuracy": history.history["val_accuracy"][-1]}


def _verbosity(setting, in_sweep):
    if str(setting) != "auto":
        return int(setting)
    return 1 if sys.stdout.isatty() and not in_sweep else 0


def _describe(error):
    return f"{type(error).__name__}: {error}".replace("\n", " ")
