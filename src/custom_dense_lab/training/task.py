"""Hydra's task function of `custom-dense-train` and its job (importing it loads TensorFlow)."""

from custom_dense_lab.process.startup import quiet_start
from custom_dense_lab.sweep import parent

parent.watch_launcher()  # a sweep's worker: from its start, before TensorFlow loads
quiet_start()

import contextlib
import sys
import time
import traceback
import weakref

import hydra
import keras
import mlflow
import numpy as np
import tensorflow_datasets as tfds
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from custom_dense import convert, quantize_model
from custom_dense_lab import errors
from custom_dense_lab.benchmark import timing
from custom_dense_lab.config import CONFIG_DIR
from custom_dense_lab.config.validation import validate_keras_names, validate_values
from custom_dense_lab.data import load_dataset, log_dataset_inputs
from custom_dense_lab.process import backends, job_settings, reuse, signals
from custom_dense_lab.tracking import disk, lifecycle, names, records, store, ui
from custom_dense_lab.training import models

EXPECTED = (errors.ConfigError, errors.DatasetUnavailableError, errors.TrainingDivergedError)
SHOWN = {"test_accuracy": 4, "quantized_test_accuracy": 4, "step_time_ms": 3, "overhead_s": 2}
NO_STEADY_STATE = (
    "no step_time_ms or train_gflops: one epoch of one training step, which traces the "
    "train function, has no steady-state step (train for more epochs or smaller batches)"
)
CALIBRATED = {"gptq": keras.quantizers.GPTQConfig, "awq": keras.quantizers.AWQConfig}
AFTER_THE_JOB = "after the job had finished: its run stays FINISHED"
tfds.disable_progress_bar()


class EpochMetricsLogger(keras.callbacks.Callback):
    """Times steps, fails on a NaN loss, stops between steps, logs epochs at most 2 s apart."""

    def __init__(self):
        super().__init__()
        self.epoch_times, self.step_times, self._pending = [], [], []
        self._flushed_at = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_started = time.perf_counter()
        self.step_times.append([])

    def on_train_batch_begin(self, batch, logs=None):
        self._step_started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        loss = float(keras.ops.convert_to_numpy(logs["loss"]))  # waits for the step
        self.step_times[-1].append(time.perf_counter() - self._step_started)
        if not np.isfinite(loss):
            raise errors.TrainingDivergedError(f"NaN or Inf loss at batch {batch}: {loss}")
        signals.raise_if_stopped()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_times.append(time.perf_counter() - self._epoch_started)
        metrics = {f"train_{k}": float(logs[k]) for k in ("loss", "accuracy")}
        metrics |= {k: float(logs[k]) for k in ("val_loss", "val_accuracy") if k in logs}
        metrics["epoch_time_s"] = self.epoch_times[-1]
        metrics["epoch_step_time_ms"] = float(np.median(self.step_times[-1])) * 1000.0
        ended = int(time.time() * 1000)
        self._pending += [mlflow.entities.Metric(k, v, ended, epoch) for k, v in metrics.items()]
        if time.perf_counter() - self._flushed_at >= 2.0:
            self.flush()

    def flush(self):
        if self._pending:
            mlflow.MlflowClient().log_batch(mlflow.active_run().info.run_id, self._pending)
        self._pending, self._flushed_at = [], time.perf_counter()


def run_job(cfg, overrides, in_sweep, parent_run_id=None):
    """One job in its run: its final metrics; `None` if it failed, `Interrupted` if stopped."""
    started = time.perf_counter()
    keras.backend.clear_session(free_memory=False)  # a full collection: ~0.4 s a job
    if cfg.mlflow.tracking_uri:
        mlflow.set_tracking_uri(cfg.mlflow.tracking_uri)
    adopted = parent_run_id or mlflow.environment_variables.MLFLOW_RUN_ID.get()
    experiment_id = store.open_experiment(cfg.mlflow.experiment_name, adopted, not parent_run_id)
    label = " ".join(overrides) or "default config"
    run_name, run_tags = records.job_identity(cfg, overrides, parent_run_id)
    tags = {**lifecycle.process_tags(), **run_tags}
    run = mlflow.start_run(
        experiment_id=experiment_id, run_name=run_name, parent_run_id=parent_run_id, tags=tags
    )
    try:
        with lifecycle.heartbeat(run.info.run_id):
            mlflow.log_params(records.config_params(cfg))
            validate_values(cfg)
            validate_keras_names(cfg)
            with signals.stops_at_checkpoints():
                metrics = _train_and_measure(cfg, overrides, in_sweep, started, run_tags)
    except (errors.Interrupted, KeyboardInterrupt, Exception) as error:
        # A library may turn a stop into an error of its own.
        stop = signals.stop_requested() if isinstance(error, Exception) else error
        if stop is not None:
            stop = errors.Interrupted.from_exception(stop)
            lifecycle.end_active_run("KILLED", str(stop))
            print(f"KILLED [{label}] {stop}", file=sys.stderr, flush=True)
            raise stop from None
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
    figures = " ".join(f"{k}={metrics[k]:.{d}f}" for k, d in SHOWN.items() if k in metrics)
    print(f"done [{label}] {figures} run_id={run.info.run_id}", flush=True)
    if not in_sweep:
        ui.where_to_look(run.info.run_id, cfg.mlflow.experiment_name)
    return metrics


def _train_and_measure(cfg, overrides, in_sweep, started, run_tags):
    trainer, batch_size, phases, marks = cfg.trainer, cfg.trainer.batch_size, {}, [started]

    def lap(phase):  # each phase's wall time, from the end of the one before
        marks.append(time.perf_counter())
        phases[phase] = marks[-1] - marks[-2]
        signals.raise_if_stopped()

    lap("overhead_setup_s")
    placement, cache = models.resolve_device(cfg.device.name), reuse.for_job(trainer.reuse)
    with job_settings.job_settings(trainer.precision.value, trainer.deterministic):
        # Seeded twice: preparing a dataset may draw from the state the initializers draw from.
        keras.utils.set_random_seed(cfg.seed)
        bundle = load_dataset(cfg.dataset, batch_size, cfg.seed, cache)
        log_dataset_inputs(bundle)
        lap("overhead_data_s")
        with keras.device(placement.spec):
            keras.utils.set_random_seed(cfg.seed)
            model = models.job_model(cfg, bundle.input_shape, bundle.num_classes)
            key = models.graph_key(cfg, (bundle.train.element_spec, bundle.num_classes))
            compiled = models.compiled_model_for(model, key, bundle.examples("train", 2), cache)
            kind = "cpu" if "cpu" in str(model.weights[0].value.device).lower() else "gpu"
            tags = records.environment_tags(cfg.layer.name, placement, kind)
            mlflow.set_tags({**tags, "jit_compile": str(bool(compiled.jit_compile)).lower()})
            lap("overhead_build_s")
            epochs, verbose = EpochMetricsLogger(), trainer.verbose.value  # -1: a bar on a tty
            verbose = int(sys.stdout.isatty() and not in_sweep) if verbose < 0 else verbose
            data = dict(x=bundle.train, validation_data=bundle.validation, epochs=trainer.epochs)
            try:  # shuffle=False: the pipeline reshuffles every epoch with the job's seed
                history = compiled.fit(**data, shuffle=False, callbacks=[epochs], verbose=verbose)
            finally:
                epochs.flush()
            lap("fit")
            models.copy_state(compiled, model)
            test = compiled.evaluate(bundle.test, return_dict=True, verbose=0)
            lap("overhead_evaluate_s")
            sample, shipped, quantized = bundle.examples("test", 256)[0], model, {}
            if mode := cfg.quantize and cfg.quantize.value:
                calibration, _ = bundle.examples("train", cfg.calibration_batches * batch_size)
                shipped = keras.models.clone_model(model)
                shipped.set_weights(model.get_weights())
                if mode in CALIBRATED:  # at int4's bits and groups, for a fair comparison
                    config = CALIBRATED[mode](None, None, weight_bits=4, group_size=128)
                    split = range(batch_size, len(calibration), batch_size)
                    quantize_model(shipped, config, np.array_split(calibration, split))
                else:
                    shipped.quantize(mode)
                shipped.compile(loss=model.loss, metrics=["accuracy"])
            shape = sample.shape[1:]
            forwards = [
                cache.get("forward passes", m, lambda m=m: timing.compiled_forward(m, shape))
                for m in ([compiled] if shipped is model else [compiled, shipped])
            ]
            inference, *timings = timing.inference_timings(forwards, sample)
            if timings:
                test_q = shipped.evaluate(bundle.test, return_dict=True, verbose=0)
                figures = {"test_loss": test_q["loss"], "test_accuracy": test_q["accuracy"]}
                figures |= {**timings[0], "model_size_bytes": models.size_bytes(shipped)}
                quantized = {f"quantized_{k}": v for k, v in figures.items() if np.isfinite(v)}
            run_id = mlflow.active_run().info.run_id  # its model kept for its pair's timing
            settings = (trainer.precision.value, trainer.deterministic)
            examples = bundle.examples("train", batch_size)
            timing.kept[run_id] = (weakref.ref(compiled), *examples, settings, placement.spec)
            weakref.finalize(compiled, timing.kept.pop, run_id, None)
            lap("overhead_inference_s")

    steady_epochs = epochs.epoch_times[1:] or epochs.epoch_times
    metrics = {
        "test_loss": test["loss"],
        "test_accuracy": test["accuracy"],
        "fit_time_s": phases.pop("fit"),
        "first_epoch_time_s": epochs.epoch_times[0],
        "train_throughput_sps": bundle.sizes["train"] * len(steady_epochs) / sum(steady_epochs),
        **inference,
        "param_count": model.count_params(),
        "model_size_bytes": models.size_bytes(model),
        **quantized,
    }
    # The median step after the first epoch, else after the first step (which traces).
    steps = [t for epoch in epochs.step_times[1:] for t in epoch] or epochs.step_times[0][1:]
    if not steps:
        print(f"[{' '.join(overrides) or 'default config'}] {NO_STEADY_STATE}", flush=True)
    else:
        step_s, flops = float(np.median(steps)), models.training_matmul_flops(model, batch_size)
        metrics.update(step_time_ms=step_s * 1000.0, train_gflops=flops / step_s / 1e9)
    records.log_job_artifacts(cfg, overrides, model)
    lap("overhead_artifacts_s")
    model_id = None
    if cfg.mlflow.log_model:
        outputs = timing.forward_call(forwards[-1], sample[:4])()
        # Keras's Dense saves GPTQ and AWQ layers without their zero points (docs/runs.md).
        logged = convert(shipped, to="custom") if mode in CALIBRATED else shipped
        step = len(epochs.epoch_times) - 1
        model_id = records.log_model(logged, cfg, sample[:4], outputs, step, run_tags).model_id
    phases["overhead_log_model_s"] = time.perf_counter() - marks[-1]
    metrics = {k: float(v) for k, v in metrics.items()}
    metrics["overhead_s"] = time.perf_counter() - started - metrics["fit_time_s"]
    mlflow.log_metrics({**metrics, **phases}, model_id=model_id)
    return {**metrics, "val_accuracy": history.history["val_accuracy"][-1]}


def run_task(cfg):
    """One job's validation accuracy for Hydra's sweepers: `None` failed, alone exit 1."""
    signals.raise_on_stop_signals()  # again: in a sweep's worker process, this is the entry point
    hydra_cfg = HydraConfig.get()
    overrides, in_sweep = list(hydra_cfg.overrides.task), hydra_cfg.mode == RunMode.MULTIRUN
    parent_run = parent.parent_run_id(hydra_cfg.sweep.dir) if in_sweep else None
    parent.watch_launcher()  # and at the start of every job
    try:
        disk.check_free_space()
        args = (cfg, overrides, in_sweep, parent_run)
        metrics = backends.run_in_backend(cfg.backend.value, run_job, *args)
    except errors.Interrupted as stop:
        if parent.in_worker_process():  # the launcher records an Exception, not a BaseException
            raise errors.JobInterruptedError(str(stop)) from None
        raise
    except (errors.StorageFullError, Exception) as error:
        lost = isinstance(error, backends.BackendWorkerError)  # its run, if any, closed as lost
        full = error if isinstance(error, errors.StorageFullError) else disk.storage_failure(error)
        if not lost and (full is None or not parent.in_worker_process()):
            if full in (None, error):
                raise
            raise full from None
        print(f"error: {full or error}", file=sys.stderr, flush=True)
        if lost and in_sweep:  # a FAILED run for a job whose run never existed: the sweep counts it
            experiment_id = mlflow.get_run(parent_run).info.experiment_id
            found = f"tags.mlflow.parentRunId = '{parent_run}'"
            siblings = mlflow.search_runs([experiment_id], found, output_format="list")
            if all(r.data.tags.get(names.OVERRIDES_TAG) != " ".join(overrides) for r in siblings):
                run_name, tags = records.job_identity(cfg, overrides, parent_run)
                tags |= {"mlflow.parentRunId": parent_run}
                run = mlflow.MlflowClient().create_run(experiment_id, run_name=run_name, tags=tags)
                lifecycle.fail_run(run.info.run_id, str(error))
        metrics = None
    if not in_sweep:
        if metrics is None:
            raise SystemExit(1)
        signals.exit_on_stop_signals(AFTER_THE_JOB)
    return metrics and metrics["val_accuracy"]


hydra_app = hydra.main(
    config_path=str(CONFIG_DIR), config_name="config", execution_whitelist=models.TRUSTED_TARGETS
)(run_task)


def state_of_finished_job():
    """`" after the job had finished..."` where this process's single job ended FINISHED."""
    with contextlib.suppress(Exception):  # the store may be what stopped the job
        run = mlflow.last_active_run()
        if "mlflow.parentRunId" not in run.data.tags and run.info.status == "FINISHED":
            return f" {AFTER_THE_JOB}"
    return ""
