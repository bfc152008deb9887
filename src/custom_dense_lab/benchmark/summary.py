"""The benchmark's results: one row per config, a terminal table and a plot."""

import numpy as np
from matplotlib.figure import Figure

from custom_dense_lab.reports.stats import ratio_summary

MEASURES = ("train_step", "infer_batch", "infer_single")
_TITLES = {
    "train_step": "training step",
    "infer_batch": "batched inference",
    "infer_single": "single-sample inference",
}


def result_row(config, timings):
    """Summarises one config's paired timings as a flat dict (one CSV row).

    Args:
        config: The `BenchConfig`.
        timings: What `benchmark.measure_pair` returned for it.

    Returns:
        A dict with, per measure, the median milliseconds of custom and
        stock and the custom / stock ratio with its spread; the matmul peak
        measured in the same rounds; and the achieved training GFLOP/s of
        each, also as a fraction of that peak.
    """
    peak_gflops = float(np.median(timings["peak_gflops"]))
    row = {
        "config": config.name,
        "mlp": config.shape,
        "batch_size": config.batch_size,
        "peak_gflops": peak_gflops,
    }
    for measure in MEASURES:
        custom, stock = timings["custom"][measure], timings["stock"][measure]
        row[f"{measure}_ms_custom"] = float(np.median(custom) * 1000.0)
        row[f"{measure}_ms_stock"] = float(np.median(stock) * 1000.0)
        for key, value in ratio_summary(custom, stock).items():
            row[f"{measure}_{key}"] = value
    for layer in ("custom", "stock"):
        gflops = timings["train_flops"] / np.median(timings[layer]["train_step"]) / 1e9
        row[f"train_gflops_{layer}"] = float(gflops)
        row[f"train_peak_fraction_{layer}"] = float(gflops / peak_gflops)
    return row


# The terminal table's columns: a header in words, and the width and format of each cell.
_COLUMNS = (
    ("config", "<15", "{row.config}"),
    ("MLP", "<17", "{row.mlp}"),
    (
        "train step ms, custom / stock",
        ">29",
        "{row.train_step_ms_custom:.3f} / {row.train_step_ms_stock:.3f}",
    ),
    (
        "train ratio [95% interval]",
        ">26",
        "{row.train_step_ratio:.3f} [{row.train_step_ci_low:.3f}, {row.train_step_ci_high:.3f}]",
    ),
    ("batch inference ratio", ">21", "{row.infer_batch_ratio:.3f}"),
    ("one-sample inference ratio", ">26", "{row.infer_single_ratio:.3f}"),
    ("train GFLOP/s", ">13", "{row.train_gflops_custom:.1f}"),
    ("matmul peak GFLOP/s", ">19", "{row.peak_gflops:.0f}"),
    ("share of peak", ">13", "{row.train_peak_fraction_custom:.0%}"),
)
TABLE_NOTES = (
    "ratio: custom time / stock time in each round, median over the rounds (1.000: the same "
    "speed), with its bootstrap 95% interval. It is not the quotient of the two median times, "
    "which each carry the machine's drift between rounds; the per-round ratio cancels it.",
    "train GFLOP/s: the custom model's training step (the dense layers' matmul FLOPs over its "
    "median time); matmul peak: a 2048x2048 float32 matmul timed in the same rounds; share of "
    "peak: the first over the second.",
)


def to_table(results):
    """Renders the results as a fixed-width text table for the terminal, with its definitions."""
    lines = [" ".join(f"{title:{width}}" for title, width, _ in _COLUMNS)]
    for row in results.itertuples(index=False):
        lines.append(" ".join(f"{cell.format(row=row):{width}}" for _, width, cell in _COLUMNS))
    return "\n".join([*lines, *TABLE_NOTES])


def plot(results):
    """Draws each measure's ratio with its 95% interval, and training GFLOP/s against peak."""
    figure = Figure(figsize=(max(7, 0.9 * len(results) + 3), 8))
    ratio_axis, gflops_axis = figure.subplots(2, 1, sharex=True)
    positions = np.arange(len(results))
    offsets = {"train_step": -0.2, "infer_batch": 0.0, "infer_single": 0.2}
    for measure in MEASURES:
        ratio = results[f"{measure}_ratio"]
        errors = [ratio - results[f"{measure}_ci_low"], results[f"{measure}_ci_high"] - ratio]
        ratio_axis.errorbar(
            positions + offsets[measure],
            ratio,
            yerr=errors,
            fmt="o",
            capsize=3,
            label=_TITLES[measure],
        )
    ratio_axis.axhline(1.0, color="black", linewidth=0.8)
    ratio_axis.axhspan(0.98, 1.02, color="grey", alpha=0.15, label="1.00 ± 0.02")
    ratio_axis.set_ylabel("custom / stock time")
    ratio_axis.set_title("CustomDense against Dense: median ratio, 95% bootstrap interval")
    ratio_axis.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    width = 0.35
    gflops_axis.bar(positions - width / 2, results["train_gflops_custom"], width, label="custom")
    gflops_axis.bar(positions + width / 2, results["train_gflops_stock"], width, label="stock")
    gflops_axis.plot(positions, results["peak_gflops"], "r_", markersize=20, label="matmul peak")
    gflops_axis.set_ylabel("training GFLOP/s")
    gflops_axis.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    gflops_axis.set_xticks(positions, results["config"], rotation=30, ha="right")
    figure.tight_layout()
    return figure


def summary_metrics(results):
    """The run's headline metrics: peak, median ratios, best fraction of peak."""
    return {
        "matmul_peak_gflops": float(results["peak_gflops"].median()),
        **{f"median_{m}_ratio": float(results[f"{m}_ratio"].median()) for m in MEASURES},
        "max_train_peak_fraction": float(results["train_peak_fraction_custom"].max()),
    }
