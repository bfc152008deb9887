"""The sweep's paired timing read back: per pair and pooled, custom / stock ratios over rounds."""

import json
import math

import mlflow
import numpy as np

from custom_dense_lab.reports.stats import ratio_summary

TIMINGS_JSON = "paired_timings.json"
# The report's two time ratios and the measure each comes from.
RATIO_MEASURES = {"step_time": "train_step", "infer_latency": "infer_single"}


def load_document(parent_run_id):
    """The `paired_timings.json` a sweep logged on its parent (see docs/runs.md), or `{}`."""
    client = mlflow.MlflowClient()
    if TIMINGS_JSON not in {artifact.path for artifact in client.list_artifacts(parent_run_id)}:
        return {}
    return json.loads(mlflow.artifacts.load_text(f"runs:/{parent_run_id}/{TIMINGS_JSON}"))


def load_timings(parent_run_id):
    """`by_pair(load_document(parent_run_id))`."""
    return by_pair(load_document(parent_run_id))


def by_pair(document):
    """The document's pairs by `(run_id_custom, run_id_stock)`: each its `seconds` or `not_timed`."""
    return {(e["run_id_custom"], e["run_id_stock"]): e for e in document.get("pairs", [])}


def pair_figures(entry):
    """One pair's `{step_time,infer_latency}_ratio` with `_ci_low`, `_ci_high`, and `not_timed`:
    NaN and the reason for a pair not timed (`entry` is `None` where the sweep timed none)."""
    timed = entry is not None and "seconds" in entry
    figures = {}
    for name, measure in RATIO_MEASURES.items():
        summary = pooled([entry], measure) if timed else {}
        figures[f"{name}_ratio"] = summary.get("ratio", math.nan)
        figures[f"{name}_ratio_ci_low"] = summary.get("ci_low", math.nan)
        figures[f"{name}_ratio_ci_high"] = summary.get("ci_high", math.nan)
    reason = "the sweep did not time its pairs" if entry is None else entry.get("not_timed", "")
    return {**figures, "not_timed": reason}


def sweep_figures(entries):
    """`median_{step_time,infer_latency}_ratio` with `_ci_low`, `_ci_high` pooled over the timed
    pairs' rounds, and `timed_pair_count`; `{}` where none was timed."""
    timed = [entry for entry in entries if "seconds" in entry]
    if not timed:
        return {}
    figures = {"timed_pair_count": len(timed)}
    for name, measure in RATIO_MEASURES.items():
        summary = pooled(timed, measure)
        figures[f"median_{name}_ratio"] = summary["ratio"]
        figures[f"{name}_ratio_ci_low"] = summary["ci_low"]
        figures[f"{name}_ratio_ci_high"] = summary["ci_high"]
    return figures


def pooled(entries, measure):
    """The custom / stock ratio of a measure over the rounds of all the timed pairs `entries`."""
    custom, stock = (
        np.concatenate([entry["seconds"][measure][layer] for entry in entries])
        for layer in ("custom", "stock")
    )
    return ratio_summary(custom, stock)
