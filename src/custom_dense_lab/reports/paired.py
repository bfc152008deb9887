"""A sweep's paired speed figures: custom / stock ratios over rounds timed in turns.

The sweep times each custom/stock pair at its end (see
`custom_dense_lab.benchmark.sweep_pairs`) and logs the seconds of every round
on its parent run. Here they become ratios: per pair, the median of the
per-round ratios with a bootstrap 95% interval over the rounds; for the
sweep, the same over the rounds of all its pairs.
"""

import json
import math

import mlflow
import numpy as np

from custom_dense_lab.reports.stats import ratio_summary

TIMINGS_JSON = "paired_timings.json"
# The measures behind the report's two time ratios: a training step, a single-example forward.
RATIO_MEASURES = {"step_time": "train_step", "infer_latency": "infer_single"}
# An interval wider than this around its ratio: the machine was too noisy to tell.
NOISY_HALF_WIDTH = 0.05


def load_timings(parent_run_id):
    """The pairs' timings logged on a sweep's parent, by `(custom run id, stock run id)`.

    Returns:
        `{(run_id_custom, run_id_stock): entry}`, each entry holding either
        `seconds` (`{measure: {"custom": [...], "stock": [...]}}`) or
        `not_timed` (the reason); `{}` when the sweep timed no pair.
    """
    client = mlflow.MlflowClient()
    if TIMINGS_JSON not in {artifact.path for artifact in client.list_artifacts(parent_run_id)}:
        return {}
    document = json.loads(mlflow.artifacts.load_text(f"runs:/{parent_run_id}/{TIMINGS_JSON}"))
    return {(e["run_id_custom"], e["run_id_stock"]): e for e in document["pairs"]}


def pair_figures(entry):
    """One pair's paired ratios as report columns; NaN (and the reason) for a pair not timed.

    Args:
        entry: The pair's entry of `load_timings`, or `None`.

    Returns:
        `{name}_ratio`, `{name}_ratio_ci_low`, `{name}_ratio_ci_high` for
        `step_time` and `infer_latency`, and `not_timed` (`""` when timed).
    """
    figures = {}
    for name, measure in RATIO_MEASURES.items():
        timed = entry is not None and "seconds" in entry
        summary = _summary_of_rounds([entry], measure) if timed else {}
        figures[f"{name}_ratio"] = summary.get("ratio", math.nan)
        figures[f"{name}_ratio_ci_low"] = summary.get("ci_low", math.nan)
        figures[f"{name}_ratio_ci_high"] = summary.get("ci_high", math.nan)
    if entry is None:
        figures["not_timed"] = "the sweep did not time its pairs"
    else:
        figures["not_timed"] = entry.get("not_timed", "")
    return figures


def sweep_figures(entries):
    """The sweep's paired ratios, over the rounds of all its timed pairs.

    Args:
        entries: The timed pairs' entries of `load_timings`.

    Returns:
        `median_{name}_ratio`, `{name}_ratio_ci_low`, `{name}_ratio_ci_high`
        for `step_time` and `infer_latency`, and `timed_pair_count`; `{}`
        when no pair was timed.
    """
    timed = [entry for entry in entries if "seconds" in entry]
    if not timed:
        return {}
    figures = {}
    for name, measure in RATIO_MEASURES.items():
        summary = _summary_of_rounds(timed, measure)
        figures[f"median_{name}_ratio"] = summary["ratio"]
        figures[f"{name}_ratio_ci_low"] = summary["ci_low"]
        figures[f"{name}_ratio_ci_high"] = summary["ci_high"]
    figures["timed_pair_count"] = len(timed)
    return figures


def interval_text(low, high):
    """`"95% interval 0.981 to 1.012"`, saying so where it is wider than ±5%."""
    text = f"95% interval {low:.3f} to {high:.3f}"
    if high - low > 2 * NOISY_HALF_WIDTH:
        text += ", wider than ±5%: the machine was too noisy to tell"
    return text


def _summary_of_rounds(entries, measure):
    custom = np.concatenate([entry["seconds"][measure]["custom"] for entry in entries])
    stock = np.concatenate([entry["seconds"][measure]["stock"] for entry in entries])
    return ratio_summary(custom, stock)
