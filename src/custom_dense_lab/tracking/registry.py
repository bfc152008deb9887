"""The model registry: a sweep's best custom model, and the `champion` alias it may take."""

import contextlib
import io
import re

import mlflow

from custom_dense_lab.tracking.names import OVERRIDES_TAG

CHAMPION = "champion"
OBJECTIVE = "val_accuracy"  # what a job returns to its sweeper (and Optuna maximizes)


def mlflow_name(text):
    """`text` with each run of characters other than letters, digits, `_` and `-` made one `-`."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text)


def registered_model_name(experiment_name, dataset):
    return mlflow_name(f"{experiment_name}-{dataset}")


def logged_models(run_id):
    experiment_id = mlflow.get_run(run_id).info.experiment_id
    where = f"source_run_id = '{run_id}'"
    return mlflow.search_logged_models([experiment_id], where, output_format="list")


def register_job_model(run_id, sweep_run_id):
    """Registers the job's model, `champion` where it beats its dataset's; returns a line to say."""
    client, models = mlflow.MlflowClient(), logged_models(run_id)
    if not models:
        return None
    run = client.get_run(run_id)
    dataset, score = run.data.params["dataset.name"], run.data.metrics[OBJECTIVE]
    name = registered_model_name(client.get_experiment(run.info.experiment_id).name, dataset)
    tags = {"sweep_run_id": sweep_run_id, "job_run_id": run_id, "dataset": dataset}
    tags |= {"objective": OBJECTIVE, "score": repr(score)}
    tags["overrides"] = run.data.tags.get(OVERRIDES_TAG, "")
    with contextlib.redirect_stderr(io.StringIO()):  # MLflow's two lines, which ours replaces
        version = mlflow.register_model(models[0].model_uri, name, tags=tags).version
    said = f"registered {name} version {version} ({run.info.run_name}, {OBJECTIVE} {score:.4f})"
    current = client.get_registered_model(name).aliases.get(CHAMPION)
    champion = client.get_model_version(name, current).tags if current else {}
    if not current or (
        champion.get("dataset") == dataset and float(champion.get("score", "inf")) < score
    ):
        client.set_registered_model_alias(name, CHAMPION, version)
        return f"{said}: now models:/{name}@{CHAMPION}"
    return f"{said}: models:/{name}@{CHAMPION} stays version {current}"
