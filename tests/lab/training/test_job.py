"""One training job in this process: the MLflow run's full contract, failures, process state."""

import math
import os
import signal

import keras
import mlflow
import numpy as np
import pytest
import tensorflow as tf
from helpers import compose_config, import_cli, runs_in
from tensorflow.python.framework import config as framework_config
from tensorflow.python.framework.config import is_op_determinism_enabled

from custom_dense_lab import errors
from custom_dense_lab.config.schema import MAX_DEPTH, MAX_UNITS
from custom_dense_lab.process import signals

task = import_cli("custom_dense_lab.training.task")
run_job, NO_STEADY_STATE = task.run_job, task.NO_STEADY_STATE
EPOCH_METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "epoch_time_s")
FINAL_METRICS = (
    "test_loss",
    "test_accuracy",
    "fit_time_s",
    "first_epoch_time_s",
    "step_time_ms",
    "train_throughput_sps",
    "infer_latency_ms_p50",
    "infer_latency_ms_p95",
    "infer_throughput_sps",
    "param_count",
    "overhead_s",
)
QUICK = ("trainer.epochs=1", "mlflow.log_model=false")


def job(tracking, *overrides):
    """Runs one job of the default config with `overrides` in the test's experiment."""
    config = compose_config(*overrides, f"mlflow.experiment_name={tracking.experiment}")
    return run_job(config, list(overrides), in_sweep=False)


def only_run(tracking):
    runs = runs_in(tracking.experiment)
    assert len(runs) == 1
    return runs[0]


def test_a_job_records_its_full_contract(tracking):
    overrides = ["trainer.epochs=3", "model.units=16", "device=cpu", "optimizer.learning_rate=0.01"]
    metrics = job(tracking, *overrides)
    run = only_run(tracking)
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["model.units"] == "16"
    assert params["trainer.epochs"] == "3"
    assert params["dataset.name"] == "digits"
    assert params["layer.name"] == "custom"
    assert params["layer.dense_class"] == "custom_dense.CustomDense"
    # Enums are logged by name; Hydra's instantiation keys are not logged.
    assert params["trainer.precision"] == "float32" and params["trainer.verbose"] == "auto"
    assert not [key for key in params if key.endswith("_target_")]
    tags = run.data.tags
    assert tags["layer_impl"] == "custom" and tags["device"] == "cpu" and tags["device_name"]
    assert tags["tf_version"].startswith("2.") and tags["keras_version"].startswith("3.")
    assert "git_commit" in tags and tags["git_dirty"] in ("true", "false", "unknown")

    client = mlflow.MlflowClient()
    for name in EPOCH_METRICS:
        history = client.get_metric_history(run.info.run_id, name)
        assert [m.step for m in history] == [0, 1, 2], name
    for name in FINAL_METRICS:
        assert math.isfinite(run.data.metrics[name]) and run.data.metrics[name] >= 0, name
    assert run.data.metrics["param_count"] == 64 * 16 + 16 + 16 * 16 + 16 + 16 * 10 + 10
    assert run.data.metrics["infer_latency_ms_p95"] >= run.data.metrics["infer_latency_ms_p50"]
    assert run.data.metrics["fit_time_s"] >= run.data.metrics["first_epoch_time_s"]
    assert metrics["test_accuracy"] == run.data.metrics["test_accuracy"]
    assert 0.5 < metrics["test_accuracy"] <= 1.0

    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "overrides.yaml", "model_summary.txt"} <= artifacts
    summary = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/model_summary.txt")
    assert "CustomDense" in summary
    config_text = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/config.yaml")
    assert "units: 16" in config_text

    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == "digits"
    input_tags = {tag.key: tag.value for tag in dataset_input.tags}
    assert input_tags["builder"] == "sklearn_digits" and input_tags["version"] == "1.0.0"
    assert input_tags["train_size"] == "1293" and input_tags["test_size"] == "360"

    logged = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id], output_format="list"
    )
    assert [model.name for model in logged] == ["custom-u16-d2-relu"]


# One training step per epoch: 100 samples, of which fewer than 128 train.
ONE_STEP_EPOCHS = ("dataset=synthetic", "dataset.n_samples=100", "trainer.batch_size=128")


def test_one_epoch_of_one_step_logs_no_step_time_and_says_why(tracking, capsys):
    job(tracking, *ONE_STEP_EPOCHS, *QUICK)
    metrics = only_run(tracking).data.metrics
    assert "step_time_ms" not in metrics and "train_gflops" not in metrics
    assert "test_accuracy" in metrics
    out = capsys.readouterr().out
    assert f"] {NO_STEADY_STATE}\n" in out and "step_time_ms=" not in out


def test_the_step_time_of_one_step_epochs_leaves_out_the_first_epoch_s_tracing(tracking):
    job(tracking, *ONE_STEP_EPOCHS, "trainer.epochs=2", "mlflow.log_model=false")
    run = only_run(tracking)
    first, second = mlflow.MlflowClient().get_metric_history(run.info.run_id, "epoch_step_time_ms")
    assert run.data.metrics["step_time_ms"] == second.value < first.value


def test_custom_and_stock_jobs_of_one_config_match(tracking):
    results = {layer: job(tracking, f"layer={layer}", *QUICK) for layer in ("custom", "stock")}
    assert results["custom"]["test_accuracy"] == results["stock"]["test_accuracy"]
    assert results["custom"]["test_loss"] == pytest.approx(results["stock"]["test_loss"], abs=1e-5)
    runs = {run.data.tags["layer_impl"]: run for run in runs_in(tracking.experiment)}
    assert runs["stock"].data.params["layer.dense_class"] == "keras.layers.Dense"


@pytest.mark.slow  # prepares the dataset
def test_preparing_the_data_does_not_change_what_a_job_learns(tracking, tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "fresh_tfds"))
    preparing = job(tracking, *QUICK)
    prepared = job(tracking, *QUICK)
    assert preparing["test_accuracy"] == prepared["test_accuracy"]


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ("model.units=0", f"Invalid model.units=0: expected an integer in [1, {MAX_UNITS}]."),
        ("model.depth=-1", f"Invalid model.depth=-1: expected an integer in [0, {MAX_DEPTH}]."),
        ("model.activation=swishy", "Invalid model.activation='swishy'"),
        ("model.kernel_initializer=nope", "Invalid model.kernel_initializer='nope'"),
        ("trainer.epochs=0", "Invalid trainer.epochs=0"),
        ("trainer.batch_size=0", "Invalid trainer.batch_size=0"),
        ("dataset.val_fraction=1.5", "Invalid dataset.val_fraction=1.5"),
    ],
)
def test_bad_values_fail_the_run_with_the_reason(tracking, override, reason, capsys):
    assert job(tracking, override) is None
    run = only_run(tracking)
    assert run.info.status == "FAILED"
    assert run.data.tags["failure_reason"].startswith(reason)
    assert run.data.params  # what was known before the failure is kept
    assert reason in capsys.readouterr().err


def test_a_nan_loss_stops_and_fails_the_job(tracking):
    assert (
        job(tracking, "optimizer=sgd", "optimizer.learning_rate=1e30", "trainer.epochs=3") is None
    )
    run = only_run(tracking)
    assert run.info.status == "FAILED"
    assert "NaN" in run.data.tags["failure_reason"]
    assert "test_accuracy" not in run.data.metrics


def test_earlier_runs_survive_a_failing_job(tracking):
    job(tracking, *QUICK)
    job(tracking, "model.units=0")
    assert sorted(run.info.status for run in runs_in(tracking.experiment)) == ["FAILED", "FINISHED"]


def test_gpu_request_without_a_gpu_fails_before_training(tracking):
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is visible")
    assert job(tracking, "device=gpu") is None
    run = only_run(tracking)
    assert run.data.tags["failure_reason"].startswith("Invalid device='gpu'")
    assert "fit_time_s" not in run.data.metrics


@pytest.mark.gpu
def test_gpu_jobs_run_on_the_gpu(tracking):
    if not tf.config.list_physical_devices("GPU"):
        pytest.skip("no GPU visible to TensorFlow")
    for device in ("gpu", "auto"):
        assert job(tracking, f"device={device}", *QUICK) is not None
    for run in runs_in(tracking.experiment):
        assert run.data.tags["device"] == "gpu"


@pytest.mark.parametrize(
    "precision",
    [
        "mixed_bfloat16",
        pytest.param("mixed_float16", marks=pytest.mark.slow),
    ],  # float16: slow on CPU
)
def test_mixed_precision_jobs_train_and_put_the_policy_back(tracking, precision):
    metrics = job(tracking, f"trainer.precision={precision}", "trainer.epochs=2", QUICK[1])
    assert metrics is not None and metrics["test_accuracy"] > 0.3
    assert keras.config.dtype_policy().name == "float32"
    assert only_run(tracking).data.params["trainer.precision"] == precision


def test_a_deterministic_job_turns_determinism_off_again_for_the_next(tracking, monkeypatch):
    enabled = []
    enable = tf.config.experimental.enable_op_determinism

    def spy():
        enabled.append(True)
        enable()

    monkeypatch.setattr(tf.config.experimental, "enable_op_determinism", spy)
    monkeypatch.setattr(framework_config, "enable_op_determinism", spy)
    assert not is_op_determinism_enabled()

    assert job(tracking, "trainer.deterministic=true", *QUICK) is not None
    assert enabled, "the deterministic job did not turn op determinism on"
    assert not is_op_determinism_enabled()

    assert job(tracking, "trainer.precision=mixed_bfloat16", *QUICK) is not None
    assert len(enabled) == 1
    assert not is_op_determinism_enabled()
    assert keras.config.dtype_policy().name == "float32"
    assert {run.info.status for run in runs_in(tracking.experiment)} == {"FINISHED"}


def test_a_stop_is_acted_on_after_the_step_it_came_in(monkeypatch):
    monkeypatch.setattr(signals, "_stop_signal", None)
    logger = task.EpochMetricsLogger()
    logger.on_epoch_begin(0)
    for step in range(2):
        logger.on_train_batch_begin(step)
        if step == 0:
            logger.on_train_batch_end(step, {"loss": 0.5})  # not asked: training goes on
            signals.note_stop(signal.SIGTERM)
    with pytest.raises(errors.Interrupted) as raised:
        logger.on_train_batch_end(1, {"loss": 0.5})
    assert raised.value.exit_status == 143
    assert len(logger.step_times[0]) == 2  # the step it came in was timed


def test_a_stop_that_a_library_turns_into_its_own_error_ends_the_job_killed(tracking, monkeypatch):
    """A real SIGINT while the inference function runs; the library answers with a TypeError."""
    monkeypatch.setattr(signals, "_stop_signal", None)
    handlers = {signum: signal.getsignal(signum) for signum in signals.STOP_SIGNALS}
    signals.raise_on_stop_signals()
    real_inference_timings = task.timing.inference_timings

    def inference_timings_stopped_by_a_signal(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        if signals.stop_requested() is not None:
            raise TypeError("an error raised while tracing, after a stop")
        return real_inference_timings(*args, **kwargs)

    monkeypatch.setattr(task.timing, "inference_timings", inference_timings_stopped_by_a_signal)
    try:
        with pytest.raises(errors.Interrupted) as raised:
            job(tracking, *QUICK)
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    assert raised.value.exit_status == 130
    run = only_run(tracking)
    assert run.info.status == "KILLED"
    assert run.data.tags["failure_reason"] == "interrupted by SIGINT"


# The job calibrates GPTQ and AWQ alike (their layers differ: tests/library).
@pytest.mark.parametrize("mode", ["gptq"])
def test_a_calibrated_quantization_ships_a_model_as_the_stock_job_does(tracking, mode):
    figures = {}
    for layer in ("custom", "stock"):
        metrics = job(
            tracking, *QUICK, f"layer={layer}", f"quantize={mode}", "calibration_batches=2"
        )
        figures[layer] = {k: v for k, v in metrics.items() if k.startswith("quantized_test")}
    assert set(figures["custom"]) == {"quantized_test_loss", "quantized_test_accuracy"}
    assert figures["custom"] == figures["stock"]
    assert 0 < figures["custom"]["quantized_test_accuracy"] <= 1


def test_a_stock_gptq_job_logs_a_model_that_loads_and_predicts_as_it_measured(tracking):
    """Keras's Dense saves GPTQ layers without their zero points: the job logs CustomDense."""
    metrics = job(tracking, "trainer.epochs=1", "layer=stock", "quantize=gptq")
    run = only_run(tracking)
    loaded = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/stock-u64-d2-relu-gptq")
    features = np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32)
    assert loaded.predict(features).shape == (4, 10)
    assert 0 < metrics["quantized_test_accuracy"] <= 1
