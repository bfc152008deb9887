"""Logged models' names, and a sweep's best custom model in the model registry."""

import keras
import mlflow
import numpy as np
from helpers import compose_config

from custom_dense import CustomDense
from custom_dense_lab.sweep import parent
from custom_dense_lab.sweep.callback import finish_sweep
from custom_dense_lab.tracking import names, records, registry


def job(experiment_id, sweep_id, val_accuracy, *overrides):
    """A finished job of the sweep with the config of `overrides` and a tiny model; its run id."""
    cfg = compose_config("model.units=4", "model.depth=1", *overrides)
    with mlflow.start_run(
        experiment_id=experiment_id, parent_run_id=sweep_id, run_name=f"job {val_accuracy}"
    ) as run:
        mlflow.log_params(records.config_params(cfg))
        mlflow.set_tag(names.OVERRIDES_TAG, " ".join(overrides))
        mlflow.log_metric("val_accuracy", val_accuracy)
        mlflow.log_text("seed: 0\n", "config.yaml")  # the sweep's end logs its best job's
        model = keras.Sequential([keras.Input((3,)), CustomDense(2)])
        x = np.zeros((2, 3), "float32")
        records.log_model(model, cfg, x, keras.ops.convert_to_numpy(model(x)), 0, {})
    return run.info.run_id


def sweep(tracking, name="sweep"):
    experiment_id = mlflow.set_experiment(tracking.experiment).experiment_id
    return experiment_id, mlflow.MlflowClient().create_run(experiment_id, run_name=name).info.run_id


def test_a_logged_model_is_named_by_its_config_and_tagged_with_its_sweep(tracking):
    assert records.model_name(compose_config()) == "custom-u64-d2-relu"
    assert records.model_name(compose_config("layer=stock", "quantize=int8")) == (
        "stock-u64-d2-relu-int8"
    )
    assert registry.registered_model_name("my runs/v1.2", "digits") == "my-runs-v1-2-digits"
    experiment_id, sweep_id = sweep(tracking, "11-25 18:48 · units 4")
    run_id = job(experiment_id, sweep_id, 0.5, "model.activation=tanh")
    (model,) = mlflow.search_logged_models(experiment_ids=[experiment_id], output_format="list")
    assert model.name == "custom-u4-d1-tanh" and model.source_run_id == run_id
    assert model.tags["sweep_run_id"] == sweep_id
    assert model.tags["sweep_name"] == "11-25 18:48 · units 4"
    assert model.params["model.activation"] == "tanh"


def test_the_champion_moves_only_to_a_better_model_of_the_same_dataset(tracking):
    experiment_id, sweep_id = sweep(tracking)
    name = f"{tracking.experiment}-digits"
    client = mlflow.MlflowClient()

    def register(score, *overrides):
        return registry.register_job_model(
            job(experiment_id, sweep_id, score, *overrides), sweep_id
        )

    uri = f"models:/{name}@champion"
    assert register(0.9) == f"registered {name} version 1 (job 0.9, val_accuracy 0.9000): now {uri}"
    better = job(experiment_id, sweep_id, 0.95, "seed=1")
    assert registry.register_job_model(better, sweep_id).endswith(
        f"version 2 (job 0.95, val_accuracy 0.9500): now {uri}"
    )
    assert register(0.8).endswith(f": {uri} stays version 2")
    assert register(0.95).endswith(f": {uri} stays version 2")  # a tie keeps it
    champion = client.get_model_version_by_alias(name, registry.CHAMPION)
    assert int(champion.version) == 2
    assert champion.tags == {
        "sweep_run_id": sweep_id,
        "job_run_id": better,
        "dataset": "digits",
        "objective": "val_accuracy",
        "score": "0.95",
        "overrides": "seed=1",
    }

    # Another dataset has a registered model, and a champion, of its own.
    assert register(0.5, "dataset=synthetic").endswith("-synthetic@champion")
    synthetic = client.get_model_version_by_alias(f"{tracking.experiment}-synthetic", "champion")
    assert synthetic.tags["dataset"] == "synthetic" and int(synthetic.version) == 1
    assert int(client.get_model_version_by_alias(name, registry.CHAMPION).version) == 2

    # A champion whose tags name another dataset (set by hand) is not compared: it stays.
    client.set_registered_model_alias(name, registry.CHAMPION, "1")
    client.set_model_version_tag(name, "1", "dataset", "mnist")
    assert register(0.99).endswith(f": {uri} stays version 1")


def test_a_sweep_registers_its_best_custom_job_unless_told_not_to(tracking, monkeypatch, capsys):
    experiment_id, sweep_id = sweep(tracking)
    job(experiment_id, sweep_id, 0.8, "model.units=4")
    best_custom = job(experiment_id, sweep_id, 0.9, "model.units=8")
    job(experiment_id, sweep_id, 0.99, "layer=stock", "model.units=16")
    monkeypatch.setenv(parent.PARENT_RUN_ENV, sweep_id)
    assert finish_sweep() == []
    name = f"{tracking.experiment}-digits"
    said = (
        f"registered {name} version 1 (job 0.9, val_accuracy 0.9000): now models:/{name}@champion"
    )
    assert said in capsys.readouterr().out.splitlines()
    assert mlflow.get_run(sweep_id).info.status == "FINISHED"
    champion = mlflow.MlflowClient().get_model_version_by_alias(name, registry.CHAMPION)
    assert champion.tags["job_run_id"] == best_custom

    _, unregistered = sweep(tracking)
    job(experiment_id, unregistered, 0.95, "mlflow.register_model=false")
    monkeypatch.setenv(parent.PARENT_RUN_ENV, unregistered)
    assert finish_sweep() == []
    assert "registered" not in capsys.readouterr().out
    assert [
        int(v.version) for v in mlflow.search_model_versions(filter_string=f"name = '{name}'")
    ] == [1]


def test_a_registration_that_fails_fails_the_parent_and_leaves_its_jobs(tracking, monkeypatch):
    experiment_id, sweep_id = sweep(tracking)
    with mlflow.start_run(experiment_id=experiment_id, parent_run_id=sweep_id) as run:
        mlflow.log_param("layer.name", "custom")  # and no dataset: nothing to register it under
        mlflow.log_metric("val_accuracy", 0.5)
        mlflow.log_text("seed: 0\n", "config.yaml")
    monkeypatch.setenv(parent.PARENT_RUN_ENV, sweep_id)
    assert finish_sweep() == []
    assert mlflow.get_run(run.info.run_id).info.status == "FINISHED"
    closed = mlflow.get_run(sweep_id)
    assert closed.info.status == "FAILED"
    assert closed.data.tags["failure_reason"].startswith(
        "the best custom model could not be registered (KeyError"
    )
