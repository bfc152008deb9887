"""The sweep's paired timing, read back: custom / stock ratios over the rounds timed in turns.

Per pair, the median of its per-round ratios with a bootstrap 95% interval;
for the sweep, the same pooled over the rounds of all its timed pairs.
"""

import json
import math

import mlflow
import numpy as np

from custom_dense_lab.reports.stats import ratio_summary

TIMINGS_JSON = "paired_timings.json"
# The report's two time ratios and the measure each comes from.
RATIO_MEASURES = {"step_time": "train_step", "infer_latency": "infer_single"}


def load_document(parent_run_id):
    """The `paired_timings.json` a sweep logged on its parent, or `{}`.

    It holds `rounds`, `seconds_per_sample` and `pairs` (per pair its run ids and
    either `seconds`, `{measure: {"custom": [...], "stock": [...]}}`, or
    `not_timed`, the reason); from sweeps that stop at a target interval also
    `target_half_width`, `max_rounds` and `wall_s`.
    """
    client = mlflow.MlflowClient()
    if TIMINGS_JSON not in {artifact.path for artifact in client.list_artifacts(parent_run_id)}:
        return {}
    return json.loads(mlflow.artifacts.load_text(f"runs:/{parent_run_id}/{TIMINGS_JSON}"))


def load_timings(parent_run_id):
    """The timed pairs of `load_document`, by `(run_id_custom, run_id_stock)`."""
    return by_pair(load_document(parent_run_id))


def by_pair(document):
    return {(e["run_id_custom"], e["run_id_stock"]): e for e in document.get("pairs", [])}


def pair_figures(entry):
    """One pair's `{step_time,infer_latency}_ratio` with `_ci_low`, `_ci_high`, and `not_timed`.

    The ratios are NaN, and `not_timed` the reason, for a pair not timed
    (`entry` is `None` where the sweep timed no pair).
    """
    timed = entry is not None and "seconds" in entry
    figures = {}
    for name, measure in RATIO_MEASURES.items():
        summary = _pooled([entry], measure) if timed else {}
        for key, suffix in (("ratio", ""), ("ci_low", "_ci_low"), ("ci_high", "_ci_high")):
            figures[f"{name}_ratio{suffix}"] = summary.get(key, math.nan)
    reason = "the sweep did not time its pairs" if entry is None else entry.get("not_timed", "")
    return {**figures, "not_timed": reason}


def sweep_figures(entries):
    """The ratios pooled over the rounds of all timed pairs, and `timed_pair_count`; `{}` if none.

    Keys: `median_{name}_ratio`, `{name}_ratio_ci_low`, `{name}_ratio_ci_high`
    for `step_time` and `infer_latency`.
    """
    timed = [entry for entry in entries if "seconds" in entry]
    if not timed:
        return {}
    figures = {"timed_pair_count": len(timed)}
    for name, measure in RATIO_MEASURES.items():
        summary = _pooled(timed, measure)
        figures[f"median_{name}_ratio"] = summary["ratio"]
        figures[f"{name}_ratio_ci_low"] = summary["ci_low"]
        figures[f"{name}_ratio_ci_high"] = summary["ci_high"]
    return figures


def _pooled(entries, measure):
    custom, stock = (
        np.concatenate([entry["seconds"][measure][layer] for entry in entries])
        for layer in ("custom", "stock")
    )
    return ratio_summary(custom, stock)
