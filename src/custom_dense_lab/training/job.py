"""One training job, start to finish: config -> data -> model -> fit -> measure -> MLflow."""

import contextlib
import sys
import time
import traceback

import keras
import mlflow

from custom_dense_lab import errors
from custom_dense_lab.benchmark import pairs, timing
from custom_dense_lab.config.validation import validate_config
from custom_dense_lab.data import load_dataset, log_dataset_inputs
from custom_dense_lab.process import reuse as process_reuse
from custom_dense_lab.process import signals
from custom_dense_lab.process.job_settings import job_settings
from custom_dense_lab.tracking import disk, lifecycle, records, store, ui
from custom_dense_lab.training import compiled_models, quantized
from custom_dense_lab.training.callbacks import NO_STEADY_STATE, EpochMetricsLogger, StopWhenAsked
from custom_dense_lab.training.devices import device_kind_of, resolve_device
from custom_dense_lab.training.models import job_model, training_matmul_flops

EXPECTED = (errors.ConfigError, errors.DatasetUnavailableError, errors.TrainingDivergedError)


class PhaseClock:
    """Wall time per named phase of a job, each from the end of the one before."""

    def __init__(self):
        self.started = self._mark = time.perf_counter()
        self.seconds = {}

    def lap(self, phase):
        self.seconds[phase] = (now := time.perf_counter()) - self._mark
        self._mark = now


def run_job(cfg, overrides, in_sweep, parent_run_id=None):
    """Trains and evaluates one model in one MLflow run (a child of the sweep's parent, else
    the run `mlflow run` opened, else new); returns its final metrics. A failed job ends its
    run FAILED and returns `None`; a stopped one ends it KILLED and raises `Interrupted`."""
    clock = PhaseClock()
    keras.backend.clear_session(free_memory=False)  # a full collection: ~0.4 s a job
    if cfg.mlflow.tracking_uri:
        mlflow.set_tracking_uri(cfg.mlflow.tracking_uri)
    adopted = parent_run_id or mlflow.environment_variables.MLFLOW_RUN_ID.get()
    # A sweep's launching process has tidied the experiment up for its jobs.
    experiment_id = store.open_experiment(
        cfg.mlflow.experiment_name, adopted, housekeeping=parent_run_id is None
    )
    label = " ".join(overrides) or "default config"
    run_name, run_tags = records.job_identity(cfg, overrides, parent_run_id)
    run = mlflow.start_run(
        experiment_id=experiment_id,
        run_name=run_name,
        parent_run_id=parent_run_id,
        tags={**lifecycle.process_tags(), **run_tags},
    )
    try:
        with lifecycle.heartbeat(run.info.run_id):
            mlflow.log_params(records.config_params(cfg))
            validate_config(cfg)
            clock.lap("overhead_setup_s")
            with signals.stops_at_checkpoints():
                metrics = _train_and_measure(cfg, overrides, in_sweep, clock, run_tags)
    except (errors.Interrupted, KeyboardInterrupt) as stop:
        _end_killed(errors.Interrupted.from_exception(stop), label)
    except Exception as error:
        interrupted = signals.stop_requested()  # a library may turn the stop into its own error
        if interrupted is not None:
            _end_killed(interrupted, label)
        storage = disk.storage_failure(error)
        if storage is not None:  # what the failed write left is freed; the sweep stops
            with contextlib.suppress(Exception):
                records.remove_unfinished_models(run.info.run_id)
            lifecycle.end_active_run("FAILED", str(storage))
            raise storage from None
        expected = isinstance(error, EXPECTED)
        reason = str(error) if expected else lifecycle.describe_error(error)
        lifecycle.end_active_run("FAILED", reason, None if expected else traceback.format_exc())
        print(f"FAILED [{label}] {reason}", file=sys.stderr, flush=True)
        return None
    lifecycle.finish_active_run()
    shown = {"test_accuracy": 4, "quantized_test_accuracy": 4, "step_time_ms": 3, "overhead_s": 2}
    figures = " ".join(f"{k}={metrics[k]:.{d}f}" for k, d in shown.items() if k in metrics)
    print(f"done [{label}] {figures} run_id={run.info.run_id}", flush=True)
    if not in_sweep:
        ui.where_to_look(run.info.run_id, cfg.mlflow.experiment_name)
    return metrics


def _end_killed(interrupted, label):
    lifecycle.end_active_run("KILLED", str(interrupted))
    print(f"KILLED [{label}] {interrupted}", file=sys.stderr, flush=True)
    raise interrupted from None


def _train_and_measure(cfg, overrides, in_sweep, clock, run_tags):
    trainer, batch_size = cfg.trainer, cfg.trainer.batch_size
    placement = resolve_device(cfg.device.name)
    reuse = process_reuse.for_job(trainer.reuse)
    with job_settings(trainer.precision.value, trainer.deterministic):
        # Seeded twice: tf.data's shuffle combines the global seed with its own, and preparing
        # a dataset may draw from Python's random, which the initializers draw from next.
        keras.utils.set_random_seed(cfg.seed)
        bundle = load_dataset(cfg.dataset, batch_size, cfg.seed, reuse)
        log_dataset_inputs(bundle)
        clock.lap("overhead_data_s")
        signals.raise_if_stopped()
        with keras.device(placement.spec):
            keras.utils.set_random_seed(cfg.seed)
            model = job_model(cfg, bundle.input_shape, bundle.num_classes)
            # Trains through the compiled model of an earlier job of this graph, if any.
            key = compiled_models.graph_key(cfg, bundle.train.element_spec)
            compiled = compiled_models.compiled_model_for(
                model, key, bundle.examples("train", 2), reuse
            )
            tags = records.environment_tags(
                cfg.layer.name, placement, device_kind_of(model.weights[0])
            )
            mlflow.set_tags({**tags, "jit_compile": str(bool(compiled.jit_compile)).lower()})
            clock.lap("overhead_build_s")
            signals.raise_if_stopped()

            epochs = EpochMetricsLogger()
            verbose = trainer.verbose.value  # -1: a progress bar on a terminal, outside sweeps
            try:
                history = compiled.fit(
                    bundle.train,
                    validation_data=bundle.validation,
                    epochs=trainer.epochs,
                    shuffle=False,  # the pipeline reshuffles every epoch with the job's seed
                    callbacks=[epochs, StopWhenAsked()],
                    verbose=int(sys.stdout.isatty() and not in_sweep) if verbose < 0 else verbose,
                )
            finally:
                epochs.flush()
            clock.lap("fit")

            compiled_models.copy_state(compiled, model)
            test = compiled.evaluate(
                bundle.test, return_dict=True, verbose=0, callbacks=[StopWhenAsked()]
            )
            clock.lap("overhead_evaluate_s")

            # The job ships the quantized model where it asks for one, timed with the float one.
            sample, _ = bundle.examples("test", 256)
            shipped, timed = model, [compiled]
            if cfg.quantize is not None:
                calibration, _ = bundle.examples("train", cfg.calibration_batches * batch_size)
                shipped = quantized.quantized_copy(
                    model, cfg.quantize.value, calibration, batch_size
                )
                timed.append(shipped)
            forwards = [
                reuse.get(
                    "forward passes", m, lambda m=m: timing.compiled_forward(m, sample.shape[1:])
                )
                for m in timed
            ]
            inference, *timings = timing.inference_timings(forwards, sample)
            quantized_figures = quantized.measure(shipped, bundle.test, *timings) if timings else {}
            pairs.keep(
                mlflow.active_run().info.run_id,
                compiled,
                bundle.examples("train", batch_size),
                sample[:batch_size],
            )
            clock.lap("overhead_inference_s")

    steady_epochs = epochs.epoch_times[1:] or epochs.epoch_times
    metrics = {
        "test_loss": float(test["loss"]),
        "test_accuracy": float(test["accuracy"]),
        "fit_time_s": clock.seconds["fit"],
        "first_epoch_time_s": epochs.epoch_times[0],
        "train_throughput_sps": bundle.sizes["train"] * len(steady_epochs) / sum(steady_epochs),
        **inference,
        "param_count": float(model.count_params()),
        "model_size_bytes": float(quantized.size_bytes(model)),
        **quantized_figures,
    }
    step_time_s = epochs.steady_state_step_time_s()
    if step_time_s is None:
        print(f"[{' '.join(overrides) or 'default config'}] {NO_STEADY_STATE}", flush=True)
    else:
        flops = training_matmul_flops(model, batch_size)
        metrics.update(step_time_ms=step_time_s * 1000.0, train_gflops=flops / step_time_s / 1e9)
    records.log_job_artifacts(cfg, overrides, model)
    clock.lap("overhead_artifacts_s")
    signals.raise_if_stopped()

    model_id = None
    if cfg.mlflow.log_model:
        outputs = timing.forward_call(forwards[-1], sample[:4])()
        logged = quantized.loadable(shipped, cfg.quantize and cfg.quantize.value)
        last_epoch = len(epochs.epoch_times) - 1
        model_id = records.log_model(
            logged, cfg, sample[:4], outputs, last_epoch, run_tags
        ).model_id
    clock.lap("overhead_log_model_s")

    phases = {name: s for name, s in clock.seconds.items() if name.startswith("overhead_")}
    overhead = time.perf_counter() - clock.started - clock.seconds["fit"]
    # Linked to the model, so that the Models page shows the final figures.
    mlflow.log_metrics({**metrics, **phases, "overhead_s": overhead}, model_id=model_id)
    return {**metrics, "overhead_s": overhead, "val_accuracy": history.history["val_accuracy"][-1]}
