"""The sweep's figures, 700 pixels wide for the MLflow UI's artifact view."""

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, NullFormatter, ScalarFormatter

WIDTH_IN, DPI, ROW_IN = 7.0, 100, 0.32
# Each quantity of the backends' panel: (marker, colour, legend).
TO_TENSORFLOW_STYLES = {
    "step_time_vs_tensorflow_custom": ("^", "tab:blue", "step, custom / TF's"),
    "step_time_vs_tensorflow_stock": ("v", "tab:blue", "step, stock / TF's"),
    "infer_latency_vs_tensorflow_custom": ("P", "tab:orange", "latency, custom / TF's"),
    "infer_latency_vs_tensorflow_stock": ("X", "tab:orange", "latency, stock / TF's"),
}
# Custom a wide pale line, stock dashed on top of it: equal curves show both.
CURVE_STYLES = {
    "custom": {"linestyle": "-", "linewidth": 4.0, "alpha": 0.4},
    "stock": {"linestyle": "--", "linewidth": 1.6},
}


def comparison_figure(pairs, histories):
    """Per pair (`pairs` with a `pair` label), the custom / stock time ratios around 1.0 beside
    the accuracy delta around 0, and a panel of times over TensorFlow's in a sweep of backends;
    `histories` are the pairs' (`runs.epoch_histories`)."""
    timed = pairs["step_time_ratio"].notna()
    epochs = pd.DataFrame([_epoch_range(curves) for curves in histories], pairs.index)
    low = pairs["step_time_ratio_ci_low"].where(timed, epochs[0])
    high = pairs["step_time_ratio_ci_high"].where(timed, epochs[1])
    step = pairs["step_time_ratio"].fillna(pairs["sequential_step_time_ratio"])
    latency = pairs["infer_latency_ratio"].fillna(pairs["sequential_infer_latency_ratio"])
    accuracy = pairs["test_accuracy_delta"]
    if "quantized_test_accuracy_delta" in pairs:  # the quantized models' figures, where there
        latency = pairs["quantized_infer_latency_ratio"].fillna(latency)
        accuracy = pairs["quantized_test_accuracy_delta"].fillna(accuracy)
    rows = np.arange(len(pairs))
    panels = [["time", "accuracy"]]
    if "step_time_vs_tensorflow_custom" in pairs:
        panels.append(["backend", "backend"])
    figure = Figure(figsize=(WIDTH_IN, (1.0 + ROW_IN * len(rows)) * len(panels) + 0.5), dpi=DPI)
    axes = figure.subplot_mosaic(panels, width_ratios=[3, 2])
    step_label = (
        "training step, timed in turns (bar: 95% interval)" if timed.all()
        else "training step (bar: 95% interval; per-epoch range where not timed)" if timed.any()
        else "training step, the jobs' own (bar: per-epoch range)"
    )  # fmt: skip
    axes["time"].hlines(rows + 0.12, low, high, color="tab:blue", linewidth=1)
    axes["time"].plot(step, rows + 0.12, "o", color="tab:blue", label=step_label)
    axes["time"].plot(latency, rows - 0.12, "D", color="tab:orange", label="inference latency")
    _center(axes["time"], [*low, *high, *latency], 1.0, 0.1, "time, custom / stock (1.0 = equal)")
    axes["accuracy"].plot(accuracy, rows, "s", color="tab:green")
    _center(axes["accuracy"], accuracy, 0.0, 0.01, "test accuracy, custom - stock")
    axes["accuracy"].sharey(axes["time"])
    axes["accuracy"].tick_params(labelleft=False)
    if "backend" in axes:
        backend = axes["backend"]
        offsets = np.linspace(0.18, -0.18, len(TO_TENSORFLOW_STYLES))
        for offset, (column, style) in zip(offsets, TO_TENSORFLOW_STYLES.items(), strict=True):
            backend.plot(pairs[column], rows + offset, style[0], color=style[1], label=style[2])
        backend.axvline(1.0, color="0.2", linestyle="--", linewidth=1)
        backend.set_xscale("log")
        backend.xaxis.set_minor_formatter(NullFormatter())
        backend.xaxis.set_major_formatter(ScalarFormatter())
        backend.set_title("time, each backend / TensorFlow, same config (log)", fontsize=10)
    for axis in (axis for name, axis in axes.items() if name != "accuracy"):
        axis.set_yticks(rows, pairs["pair"], fontsize=9)
        axis.set_ylim(len(rows) - 0.5, -0.5)
    handles = [h for axis in axes.values() for h in axis.get_legend_handles_labels()[0]]
    figure.legend(handles=handles, loc="lower center", ncol=2, fontsize=8)
    bottom = (0.1 + 0.17 * ((len(handles) + 1) // 2)) / figure.get_figheight()
    figure.tight_layout(rect=(0, bottom, 1, 1))
    return figure


def learning_curves_figure(labels, histories):
    """Each pair's validation accuracy and training loss per epoch, custom and stock overlaid."""
    figure = Figure(figsize=(WIDTH_IN, max(3.4, 1.0 + 0.2 * len(labels))), dpi=DPI)
    palette = matplotlib.colormaps["tab10" if len(labels) <= 10 else "tab20"].colors
    colours = {label: palette[index % len(palette)] for index, label in enumerate(labels)}
    titles = {"val_accuracy": "validation accuracy", "train_loss": "training loss"}
    for axis, (metric, title) in zip(figure.subplots(1, 2), titles.items(), strict=True):
        for colour, curves in zip(colours.values(), histories, strict=True):
            for layer, style in CURVE_STYLES.items():
                if (layer, metric) in curves:
                    axis.plot(*curves[(layer, metric)], color=colour, **style)
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("epoch", fontsize=9)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.tick_params(labelsize=8)
        axis.grid(color="0.9")
    handles = [Line2D([], [], color="0.3", label=layer, **s) for layer, s in CURVE_STYLES.items()]
    handles += [Line2D([], [], color=c, linewidth=3, label=lab) for lab, c in colours.items()]
    figure.legend(handles=handles, loc="center right", fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0, 0.84, 1))
    return figure


def _epoch_range(curves):
    """`(low, high)` of a pair's per-epoch step-time ratios after the first epoch; NaN unknown."""
    custom, stock = (curves.get((layer, "epoch_step_time_ms")) for layer in ("custom", "stock"))
    if custom is None or stock is None or len(custom[1]) != len(stock[1]):
        return np.nan, np.nan
    ratios = custom[1] / stock[1]
    steady = ratios[1:] if len(ratios) > 1 else ratios
    return steady.min(), steady.max()


def _center(axis, values, reference, min_half_span, title):
    """A reference line, a range symmetric around it that holds `values`, the title and grid."""
    offsets = np.abs(np.asarray(values, dtype=float) - reference)
    half_span = max(min_half_span, 1.15 * offsets[np.isfinite(offsets)].max(initial=0))
    axis.axvline(reference, color="0.2", linestyle="--", linewidth=1)
    axis.set_xlim(reference - half_span, reference + half_span)
    axis.set_title(title, fontsize=10)
    axis.xaxis.set_major_locator(MaxNLocator(5))
    axis.tick_params(axis="x", labelsize=8)
    axis.grid(axis="x", color="0.9")
