"""A sweep's pairs in figures: its paired timing, each pair's ratios and noise, its metrics."""

import json
import math

import mlflow
import numpy as np
import pandas as pd

from custom_dense_lab.reports.runs import LAYERS
from custom_dense_lab.reports.stats import ratio_summary

TIMINGS_JSON = "paired_timings.json"
RATIO_MEASURES = {"step_time": "train_step", "infer_latency": "infer_single"}
TO_TENSORFLOW = {"step_time": "step_time_ms", "infer_latency": "infer_latency_ms_p50"}
TO_TENSORFLOW_COLUMNS = [f"{name}_vs_tensorflow_{lay}" for name in TO_TENSORFLOW for lay in LAYERS]
# Noisy (docs/runs.md): a step-time interval over ±5% of its ratio, or step times swinging 2x.
NOISY_HALF_WIDTH, SWING = 0.05, 2.0


def load_document(parent_run_id):
    """The `paired_timings.json` a sweep logged on its parent (docs/runs.md), or `{}`."""
    if TIMINGS_JSON not in {a.path for a in mlflow.MlflowClient().list_artifacts(parent_run_id)}:
        return {}
    return json.loads(mlflow.artifacts.load_text(f"runs:/{parent_run_id}/{TIMINGS_JSON}"))


def pooled(entries, measure):
    """The custom / stock ratio of a measure over the rounds of all the timed pairs `entries`."""
    seconds = ([entry["seconds"][measure][layer] for entry in entries] for layer in LAYERS)
    return ratio_summary(*map(np.concatenate, seconds))


def pair_figures(entry, timed=None):
    """`{step_time,infer_latency}_ratio`, `_ci_low`, `_ci_high` pooled over the pairs `timed`
    (default: `entry`, if timed; else NaN), and `not_timed`, why not (`entry` `None`: no timing)."""
    timed = timed or ([entry] if entry is not None and "seconds" in entry else [])
    reason = "the sweep did not time its pairs" if entry is None else entry.get("not_timed", "")
    figures = {"not_timed": reason}
    for name, measure in RATIO_MEASURES.items():
        found = pooled(timed, measure) if timed else {}
        for key in ("ratio", "ci_low", "ci_high"):
            figures[f"{name}_{key}".replace("_ci", "_ratio_ci")] = found.get(key, math.nan)
    return figures


def add_figures(pairs, timings):
    """Adds to `pairs` their deltas and ratios (docs/runs.md); `timings`: timed pairs by run ids."""
    if pairs.empty:
        return pairs
    for metric in ("test_accuracy", "step_time_ms", "infer_latency_ms_p50"):
        for layer in LAYERS:
            pairs[f"{metric}_{layer}"] = pairs.get(f"{metric}_{layer}", math.nan)
    keys = zip(pairs["run_id_custom"], pairs["run_id_stock"], strict=True)
    figures = pd.DataFrame([pair_figures(timings.get(key)) for key in keys], pairs.index)
    pairs[figures.columns] = figures
    columns = {"test_accuracy": "test_accuracy_delta", "step_time_ms": "sequential_step_time_ratio"}
    columns["infer_latency_ms_p50"] = "sequential_infer_latency_ratio"
    if "quantized_test_accuracy_custom" in pairs:
        columns["quantized_test_accuracy"] = "quantized_test_accuracy_delta"
        columns["quantized_infer_latency_ms_p50"] = "quantized_infer_latency_ratio"
    for metric, column in columns.items():
        custom, stock = pairs[f"{metric}_custom"], pairs[f"{metric}_stock"]
        pairs[column] = custom - stock if column.endswith("delta") else custom / stock
    backends = set(pairs.get("backend", []))
    if "tensorflow" in backends and len(backends) > 1:  # each job over TensorFlow's of its config
        config = [c for c in pairs.attrs["config_columns"] if c != "backend"]
        key = (pairs[config].astype(str) + "|").sum(axis=1)  # 0 where only the backend varies
        reference = pairs["backend"] == "tensorflow"
        for name, metric in TO_TENSORFLOW.items():
            for layer in LAYERS:
                jobs = pairs[f"{metric}_{layer}"]
                by_config = jobs[reference].groupby(key[reference]).first()
                pairs[f"{name}_vs_tensorflow_{layer}"] = (jobs / key.map(by_config))[~reference]
    return pairs


def add_noise(pairs, timings, histories):
    """Adds `noisy`: why a pair's speed figures are rough, or `""` (`runs.epoch_histories`)."""
    noisy = []
    for (_, row), curves in zip(pairs.iterrows(), histories, strict=True):
        reasons = []
        half_width = (row["step_time_ratio_ci_high"] - row["step_time_ratio_ci_low"]) / 2
        if half_width > NOISY_HALF_WIDTH * row["step_time_ratio"]:
            reasons.append(f"interval ±{half_width / row['step_time_ratio']:.0%}")
        entry = timings.get((row["run_id_custom"], row["run_id_stock"]), {})
        for layer in LAYERS:
            sources = {"epochs": curves.get((layer, "epoch_step_time_ms"), [[], []])[1][1:]}
            if "seconds" in entry:
                sources["rounds"] = np.asarray(entry["seconds"]["train_step"][layer]) * 1000
            for source, ms in sources.items():
                if len(ms) > 1 and ms.max() > SWING * ms.min():
                    spread = f"{ms.min():.3g} to {ms.max():.3g} ms"
                    reasons.append(f"{layer} steps {spread} over {source}")
        noisy.append(", ".join(reasons))
    pairs["noisy"] = noisy


def summary_metrics(pairs, timings):
    """The sweep's metrics (docs/runs.md), to 4 significant digits; those that are NaN left out."""
    keys = zip(pairs["run_id_custom"], pairs["run_id_stock"], strict=True)
    timed = [timings[key] for key in keys if "seconds" in timings.get(key, {})]
    figures = {
        "max_abs_test_accuracy_delta": pairs["test_accuracy_delta"].abs().max(),
        "median_sequential_step_time_ratio": pairs["sequential_step_time_ratio"].median(),
        "median_sequential_infer_latency_ratio": pairs["sequential_infer_latency_ratio"].median(),
        "pair_count": len(pairs),
    }
    if timed:
        for key, value in pair_figures(None, timed).items():
            figures[key if "_ci_" in key else f"median_{key}"] = value
        del figures["median_not_timed"]
        figures["timed_pair_count"] = len(timed)
    if "quantized_test_accuracy_delta" in pairs:
        quantized = pairs.dropna(subset=["quantized_test_accuracy_delta"])
        delta = quantized["quantized_test_accuracy_delta"].abs().max()
        figures["max_abs_quantized_test_accuracy_delta"] = delta
        latency = quantized["quantized_infer_latency_ratio"].median()
        figures["median_quantized_infer_latency_ratio"] = latency
        figures["quantized_pair_count"] = len(quantized) or math.nan
    for column in TO_TENSORFLOW_COLUMNS if TO_TENSORFLOW_COLUMNS[0] in pairs else []:
        for backend, group in pairs[pairs["backend"] != "tensorflow"].groupby("backend"):
            figures[f"{column}.{backend}"] = group[column].median()
    return {key: float(f"{value:.4g}") for key, value in figures.items() if not pd.isna(value)}
