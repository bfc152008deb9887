"""Jobs of one graph train through one compiled model, with the results of fresh models."""

from helpers import compose_config

from custom_dense.lab.training import engines
from custom_dense.lab.training.job import run_job

QUICK = ("trainer.epochs=2", "mlflow.log_model=false", "model.units=16", "device=cpu")


def job(tracking, *overrides):
    config = compose_config(*QUICK, *overrides, f"mlflow.experiment_name={tracking.experiment}")
    return run_job(config, [*QUICK, *overrides], in_sweep=False)


def test_the_graph_key_ignores_seed_and_initializers_only():
    def key(*overrides):
        return engines.graph_key(compose_config(*QUICK, *overrides), "spec")

    assert key("seed=1", "model.kernel_initializer=he_normal") == key("seed=2")
    assert key("model.activation=tanh") != key()
    assert key("layer=stock") != key()
    assert key("optimizer.learning_rate=0.01") != key()


def test_a_job_through_an_earlier_jobs_engine_gives_what_a_fresh_one_gives(tracking):
    engines.clear()
    fresh = job(tracking, "seed=1", "model.kernel_initializer=he_normal")
    engines.clear()
    job(tracking, "seed=0")  # becomes the engine of this graph
    reused = job(tracking, "seed=1", "model.kernel_initializer=he_normal")
    engines.clear()
    for name in ("test_accuracy", "test_loss", "val_accuracy"):
        assert reused[name] == fresh[name], name
