"""The runs a report reads: a sweep's jobs, its custom/stock pairs and their labels, its best job."""

import mlflow
import numpy as np
import pandas as pd

from custom_dense_lab.tracking import names

LAYER_PARAM = "params.layer.name"
LAYERS = ("custom", "stock")


def child_runs(parent_run_id):
    """The sweep's jobs, first started first."""
    return mlflow.search_runs(
        experiment_ids=[mlflow.get_run(parent_run_id).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
        order_by=["attributes.start_time ASC"],
    )


def pair_runs(runs):
    """One row per pair of FINISHED custom and stock jobs whose params differ only in `layer`
    (the k-th of each of a config pair up): each job's columns as `<name>_custom`, `_stock`;
    `attrs["config_columns"]`, the params the sweep varies."""
    if LAYER_PARAM not in runs:
        return pd.DataFrame()
    params = sorted(c for c in runs if c.startswith("params.") and "params.layer." not in c)
    config = [c.removeprefix("params.") for c in params]
    finished = runs[runs["status"] == "FINISHED"]
    finished = finished.rename(columns=lambda c: c.removeprefix("params.").removeprefix("metrics."))
    finished[config] = finished[config].fillna("—").astype(str)  # "—": a job without the param
    finished["nth"] = finished.groupby([*config, "layer.name"]).cumcount()
    metrics = [c.removeprefix("metrics.") for c in runs if c.startswith("metrics.")]
    kept = [*config, "nth", "run_id", *metrics, *(c for c in runs if c.startswith("tags."))]
    custom, stock = (finished[finished["layer.name"] == layer][kept] for layer in LAYERS)
    pairs = custom.merge(stock, on=[*config, "nth"], suffixes=("_custom", "_stock"))
    pairs = pairs.drop(columns="nth")
    varied = [c for c in config if runs[f"params.{c}"].astype(str).nunique() > 1]
    pairs.attrs["config_columns"] = varied
    return pairs


def pair_labels(pairs):
    """A short label per pair, distinct: its values of the keys the sweep varies ("u128 tanh")."""
    columns = pairs.attrs.get("config_columns", [])
    labels = (names.job_name({c: str(row[c]) for c in columns}) for _, row in pairs.iterrows())
    return names.numbered(labels if columns else ["pair"] * len(pairs))


def best_job(runs):
    """The finished job with the highest final `val_accuracy` (a row of `runs`), or `None`."""
    if "metrics.val_accuracy" not in runs:
        return None
    finished = runs[(runs["status"] == "FINISHED") & runs["metrics.val_accuracy"].notna()]
    return None if finished.empty else finished.loc[finished["metrics.val_accuracy"].idxmax()]


def epoch_histories(pairs):
    """Per pair, `{(layer, key): (epochs, values)}` of its custom and stock jobs' histories."""
    client, histories = mlflow.MlflowClient(), []
    for _, row in pairs.iterrows():
        histories.append({})
        for layer in LAYERS:
            for key in ("epoch_step_time_ms", "val_accuracy", "train_loss"):
                history = client.get_metric_history(row[f"run_id_{layer}"], key)
                if history:
                    steps = sorted((m.step, m.value) for m in history)
                    histories[-1][(layer, key)] = np.asarray(steps).T
    return histories
