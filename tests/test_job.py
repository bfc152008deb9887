"""One training job in this process: the MLflow run's full contract, and failures."""

import math

import mlflow
import pytest
from conftest import compose_config

from custom_dense.job import run_job

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


def only_run(experiment="custom-dense"):
    runs = mlflow.search_runs(experiment_names=[experiment], output_format="list")
    assert len(runs) == 1
    return runs[0]


def test_a_job_records_its_full_contract(tracking_uri):
    overrides = ["trainer.epochs=3", "model.units=16", "device=cpu", "optimizer.learning_rate=0.01"]
    metrics = run_job(compose_config(*overrides), overrides, in_sweep=False)
    run = only_run()
    assert run.info.status == "FINISHED"
    assert run.data.params["model.units"] == "16"
    assert run.data.params["trainer.epochs"] == "3"
    assert run.data.params["dataset.name"] == "digits"
    assert run.data.params["layer.name"] == "custom"
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

    logged = mlflow.search_logged_models(output_format="list")
    assert [model.name for model in logged] == ["model"]


def test_custom_and_stock_jobs_of_one_config_match(tracking_uri):
    results = {}
    for layer in ("custom", "stock"):
        overrides = [f"layer={layer}", "trainer.epochs=2", "mlflow.log_model=false"]
        results[layer] = run_job(compose_config(*overrides), overrides, in_sweep=False)
    assert results["custom"]["test_accuracy"] == results["stock"]["test_accuracy"]
    assert results["custom"]["test_loss"] == pytest.approx(results["stock"]["test_loss"], abs=1e-5)


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ("model.units=0", "Invalid model.units=0: expected a positive integer."),
        ("model.depth=-1", "Invalid model.depth=-1: expected an integer >= 0."),
        ("model.activation=swishy", "Invalid model.activation='swishy'"),
        ("model.kernel_initializer=nope", "Invalid model.kernel_initializer='nope'"),
        ("trainer.epochs=0", "Invalid trainer.epochs=0"),
        ("trainer.batch_size=0", "Invalid trainer.batch_size=0"),
        ("trainer.precision=float7", "Invalid trainer.precision='float7'"),
        ("dataset.val_fraction=1.5", "Invalid dataset.val_fraction=1.5"),
    ],
)
def test_bad_values_fail_the_run_with_the_reason(tracking_uri, override, reason, capsys):
    assert run_job(compose_config(override), [override], in_sweep=False) is None
    run = only_run()
    assert run.info.status == "FAILED"
    assert run.data.tags["failure_reason"].startswith(reason)
    assert run.data.params  # what was known before the failure is kept
    assert reason in capsys.readouterr().err


def test_a_nan_loss_stops_and_fails_the_job(tracking_uri):
    overrides = ["optimizer=sgd", "optimizer.learning_rate=1e30", "trainer.epochs=3"]
    assert run_job(compose_config(*overrides), overrides, in_sweep=False) is None
    run = only_run()
    assert run.info.status == "FAILED"
    assert "NaN" in run.data.tags["failure_reason"]


def test_earlier_runs_survive_a_failing_job(tracking_uri):
    good = ["trainer.epochs=1", "mlflow.log_model=false"]
    run_job(compose_config(*good), good, in_sweep=False)
    run_job(compose_config("model.units=0"), ["model.units=0"], in_sweep=False)
    statuses = sorted(
        r.info.status
        for r in mlflow.search_runs(experiment_names=["custom-dense"], output_format="list")
    )
    assert statuses == ["FAILED", "FINISHED"]


def test_gpu_request_without_a_gpu_fails_before_training(tracking_uri):
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is visible")
    assert run_job(compose_config("device=gpu"), ["device=gpu"], in_sweep=False) is None
    run = only_run()
    assert run.data.tags["failure_reason"].startswith("Invalid device='gpu'")
    assert "fit_time_s" not in run.data.metrics


@pytest.mark.gpu
def test_gpu_jobs_run_on_the_gpu(tracking_uri):
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        pytest.skip("no GPU visible to TensorFlow")
    for device in ("gpu", "auto"):
        overrides = [f"device={device}", "trainer.epochs=1", "mlflow.log_model=false"]
        assert run_job(compose_config(*overrides), overrides, in_sweep=False) is not None
    for run in mlflow.search_runs(experiment_names=["custom-dense"], output_format="list"):
        assert run.data.tags["device"] == "gpu"


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_jobs_train(tracking_uri, precision):
    overrides = [f"trainer.precision={precision}", "trainer.epochs=2", "mlflow.log_model=false"]
    metrics = run_job(compose_config(*overrides), overrides, in_sweep=False)
    assert metrics is not None and metrics["test_accuracy"] > 0.3
    import keras

    assert keras.config.dtype_policy().name == "float32"
