"""What a process reuses between jobs (`ProcessReuse`) changes no result, and is kept once:
jobs of one graph train through one compiled model with the results of fresh models."""

import gc
import weakref

import keras
import numpy as np
from helpers import compose_config, import_cli, runs_in

from custom_dense_lab.benchmark import timing
from custom_dense_lab.process import reuse as process_reuse
from custom_dense_lab.process.reuse import ProcessReuse
from custom_dense_lab.training import models
from custom_dense_lab.training.models import build_mlp, job_model

run_job = import_cli("custom_dense_lab.training.task").run_job
QUICK = ("trainer.epochs=2", "mlflow.log_model=false", "model.units=16", "device=cpu")


def job(tracking, *overrides):
    config = compose_config(*QUICK, *overrides, f"mlflow.experiment_name={tracking.experiment}")
    return run_job(config, [*QUICK, *overrides], in_sweep=False)


def test_the_graph_key_ignores_seed_and_initializers_only():
    def key(*overrides):
        return models.graph_key(compose_config(*QUICK, *overrides), "spec")

    assert key("seed=1", "model.kernel_initializer=he_normal") == key("seed=2")
    assert key("model.activation=tanh") != key()
    assert key("layer=stock") != key()
    assert key("optimizer.learning_rate=0.01") != key()
    assert key("trainer.jit_compile=true") != key("trainer.jit_compile=false") != key()
    assert key("trainer.jit_compile=False") == key("trainer.jit_compile=false")


def test_a_job_that_compiles_with_xla_does_not_train_through_one_that_does_not(tracking):
    shared = process_reuse.for_job(True)
    shared.clear()
    job(tracking, "trainer.jit_compile=false")
    job(tracking, "trainer.jit_compile=true", "seed=1")
    assert shared.size("compiled models") == 2
    runs = {run.data.params["trainer.jit_compile"]: run for run in runs_in(tracking.experiment)}
    assert runs["False"].data.tags["jit_compile"] == "false"
    assert runs["True"].data.tags["jit_compile"] == "true"
    shared.clear()


def test_a_job_gives_the_same_results_with_reuse_on_and_off(tracking):
    shared = process_reuse.for_job(True)
    shared.clear()
    alone = job(tracking, "trainer.reuse=false", "seed=1", "model.kernel_initializer=he_normal")
    assert shared.size("compiled models") == 0  # trainer.reuse=false kept nothing
    job(tracking, "seed=0")  # its compiled model is this graph's from now on
    reused = job(tracking, "seed=1", "model.kernel_initializer=he_normal")
    assert shared.size("compiled models") == 1
    assert shared.size("sources") == 1
    shared.clear()
    for name in ("test_accuracy", "test_loss", "val_accuracy", "param_count"):
        assert reused[name] == alone[name], name


def test_reuse_keeps_each_kind_bounded_the_least_recently_used_dropped_first():
    reuse = ProcessReuse()
    limit = process_reuse.LIMITS["sources"]
    for key in range(limit):
        reuse.get("sources", key, lambda key=key: f"source {key}")
    reuse.get("sources", 0, lambda: "made again")  # used: kept
    reuse.get("sources", limit, lambda: "one more")
    assert reuse.size("sources") == limit
    assert reuse.get("sources", 0, lambda: "made again") == "source 0"
    assert reuse.get("sources", 1, lambda: "made again") == "made again"


def test_a_new_compiled_model_holds_its_loss_and_metric_state_zeroed_before_training(tracking):
    config = compose_config(*QUICK)
    model = job_model(config, (4,), 3)
    batch = (np.ones((2, 4), np.float32), np.array([0, 2]))
    assert models.compiled_model_for(model, "key", batch, ProcessReuse()) is model
    assert model.optimizer.built
    # Compiling makes the loss tracker's total and count; accuracy's come with the build.
    paths = sorted(variable.path for variable in model.metrics_variables)
    assert paths == ["accuracy/count", "accuracy/total", "loss/count", "loss/total"], paths
    assert all(not np.any(variable.numpy()) for variable in model.metrics_variables)


def test_inference_traces_one_forward_pass_per_model_and_does_not_keep_the_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    batch = np.ones((8, 3), np.float32)
    reuse = ProcessReuse()
    for _ in range(2):
        forward = reuse.get(
            "forward passes", model, lambda m=model: timing.compiled_forward(m, batch.shape[1:])
        )
        (first,) = timing.inference_timings([forward], batch, 3, 2)
    assert set(first) == {"infer_latency_ms_p50", "infer_latency_ms_p95", "infer_throughput_sps"}
    traced = reuse.get("forward passes", model, lambda: None)
    assert traced is forward
    assert traced.experimental_get_tracing_count() == 1
    outputs = timing.forward_call(traced, batch)()
    np.testing.assert_allclose(outputs, model(batch).numpy(), rtol=1e-6)
    held = weakref.ref(model)
    del model, traced, forward
    gc.collect()
    assert held() is None
    assert reuse.size("forward passes") == 0


def test_layer_names_do_not_depend_on_the_models_built_before():
    def names():
        model = build_mlp(keras.layers.Dense, (8, 8, 1), 10, units=4, depth=2)
        return [layer.name for layer in model.layers], [v.path for v in model.variables]

    assert names() == names()
