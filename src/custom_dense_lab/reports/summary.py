"""A sweep's figures: per pair its deltas, ratios and noise; for the sweep its headline metrics."""

import math

import numpy as np
import pandas as pd

from custom_dense_lab.reports import paired
from custom_dense_lab.reports.runs import LAYERS

REFERENCE_BACKEND = "tensorflow"
TO_TENSORFLOW = {"step_time": "step_time_ms", "infer_latency": "infer_latency_ms_p50"}
TO_TENSORFLOW_COLUMNS = [
    f"{name}_vs_tensorflow_{layer}" for name in TO_TENSORFLOW for layer in LAYERS
]
# Noisy: a step-time interval wider than ±5% of its ratio, or a job's step times swinging 2x
# over the paired rounds or over its epochs after the first.
NOISY_HALF_WIDTH = 0.05
SWING = 2.0


def add_figures(pairs, timings):
    """Adds to `pairs` (of `runs.pair_runs`) their deltas and ratios (docs/runs.md); returns it.

    The paired ratios come from `timings` (`paired.by_pair`), by the pairs' run ids.
    """
    if pairs.empty:
        return pairs
    for metric in ("test_accuracy", "step_time_ms", "infer_latency_ms_p50"):
        for layer in LAYERS:
            pairs[f"{metric}_{layer}"] = pairs.get(f"{metric}_{layer}", math.nan)
    pairs["test_accuracy_delta"] = pairs["test_accuracy_custom"] - pairs["test_accuracy_stock"]
    keys = zip(pairs["run_id_custom"], pairs["run_id_stock"], strict=True)
    figures = pd.DataFrame([paired.pair_figures(timings.get(key)) for key in keys], pairs.index)
    pairs[figures.columns] = figures
    pairs["sequential_step_time_ratio"] = _ratio(pairs, "step_time_ms")
    pairs["sequential_infer_latency_ratio"] = _ratio(pairs, "infer_latency_ms_p50")
    if "quantized_test_accuracy_custom" in pairs:
        pairs["quantized_test_accuracy_delta"] = (
            pairs["quantized_test_accuracy_custom"] - pairs["quantized_test_accuracy_stock"]
        )
        pairs["quantized_infer_latency_ratio"] = _ratio(pairs, "quantized_infer_latency_ms_p50")
    if varies_backend(pairs):
        _add_ratios_to_tensorflow(pairs)
    return pairs


def varies_backend(pairs):
    """Whether the pairs come from more than one Keras backend, TensorFlow among them."""
    backends = set(pairs.get("backend", []))
    return REFERENCE_BACKEND in backends and len(backends) > 1


def add_noise(pairs, timings, histories):
    """Adds `noisy`: why a pair's speed figures are rough (`NOISY_HALF_WIDTH`, `SWING`), or `""`.

    `histories` are the pairs' epoch histories (`runs.epoch_histories`).
    """
    if pairs.empty:
        return
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
                    reasons.append(
                        f"{layer} steps {ms.min():.3g} to {ms.max():.3g} ms over {source}"
                    )
        noisy.append(", ".join(reasons))
    pairs["noisy"] = noisy


def summary_metrics(pairs, timings):
    """The sweep's metrics (docs/runs.md), to 4 significant digits; those that are NaN left out."""
    if pairs.empty:
        return {}
    keys = zip(pairs["run_id_custom"], pairs["run_id_stock"], strict=True)
    figures = {
        "max_abs_test_accuracy_delta": pairs["test_accuracy_delta"].abs().max(),
        **paired.sweep_figures([timings[key] for key in keys if key in timings]),
        "median_sequential_step_time_ratio": pairs["sequential_step_time_ratio"].median(),
        "median_sequential_infer_latency_ratio": pairs["sequential_infer_latency_ratio"].median(),
        "pair_count": len(pairs),
    }
    if "quantized_test_accuracy_delta" in pairs:
        quantized = pairs.dropna(subset=["quantized_test_accuracy_delta"])
        figures["max_abs_quantized_test_accuracy_delta"] = (
            quantized["quantized_test_accuracy_delta"].abs().max()
        )
        figures["median_quantized_infer_latency_ratio"] = quantized[
            "quantized_infer_latency_ratio"
        ].median()
        figures["quantized_pair_count"] = len(quantized) or math.nan
    if varies_backend(pairs):
        others = pairs[pairs["backend"] != REFERENCE_BACKEND]
        for backend, group in others.groupby("backend"):
            for column in TO_TENSORFLOW_COLUMNS:
                figures[f"{column}.{backend}"] = group[column].median()
    return {key: float(f"{value:.4g}") for key, value in figures.items() if not pd.isna(value)}


def _ratio(pairs, metric):
    return pairs[f"{metric}_custom"] / pairs[f"{metric}_stock"]


def _add_ratios_to_tensorflow(pairs):
    """Each job's step time and latency over those of TensorFlow's job of its config and layer."""
    config = [c for c in pairs.attrs["config_columns"] if c != "backend"]
    key = pairs[config].astype(str).agg(" ".join, axis=1) if config else pd.Series("", pairs.index)
    reference = pairs["backend"] == REFERENCE_BACKEND
    for name, metric in TO_TENSORFLOW.items():
        for layer in LAYERS:
            by_config = pairs.loc[reference, f"{metric}_{layer}"].groupby(key[reference]).first()
            to_tensorflow = pairs[f"{metric}_{layer}"] / key.map(by_config)
            pairs[f"{name}_vs_tensorflow_{layer}"] = to_tensorflow.where(~reference)
