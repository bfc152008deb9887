"""The sweep's figures, sized for the MLflow UI's artifact view (700 pixels wide).

`comparison_figure` answers "is custom as fast and as accurate as stock?" per
pair: time ratios around 1.0, accuracy gaps around 0. `learning_curves_figure`
overlays each pair's training: custom a wide pale solid line, stock dashed on
top of it (so that equal curves show both), one colour a pair.
"""

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

WIDTH_IN = 7.0
DPI = 100
_ROW_IN = 0.32
# Axes never zoom in further than this around their reference (1.0 or 0).
_MIN_RATIO_HALF_SPAN = 0.1
_MIN_DELTA_HALF_SPAN = 0.01
# Custom: a wide, pale solid line; stock: a dashed line on top, so that equal curves show both.
_CURVE_STYLES = {
    "custom": {"linestyle": "-", "linewidth": 4.0, "alpha": 0.4},
    "stock": {"linestyle": "--", "linewidth": 1.6},
}


def comparison_figure(
    labels,
    step_ratios,
    step_spreads,
    latency_ratios,
    accuracy_deltas,
    step_label,
    to_tensorflow=None,
):
    """Per pair: custom / stock time ratios beside the test accuracy delta.

    A sweep over Keras backends gets a third panel: each pair's step time and
    latency over TensorFlow's pair of the same config, custom and stock, on a
    log scale.

    Args:
        labels: One label per pair (what the pair's jobs share, e.g. "u128 tanh").
        step_ratios: Training-step time, custom / stock, per pair.
        step_spreads: Per pair, `(low, high)` of the bar around its step-time
            ratio, or `None` for no bar.
        latency_ratios: Single-sample inference latency, custom / stock.
        accuracy_deltas: Test accuracy, custom - stock.
        step_label: The legend's words for the step-time points and bars.
        to_tensorflow: `{series: per-pair ratios}` for the third panel, the
            series `step_time_vs_tensorflow_custom` and the like (NaN on
            TensorFlow's own pairs), or `None` for two panels.

    Returns:
        A matplotlib `Figure`.
    """
    rows = np.arange(len(labels))
    panels = (
        [["time", "accuracy"], ["backend", "backend"]] if to_tensorflow else [["time", "accuracy"]]
    )
    height = (1.0 + _ROW_IN * len(labels)) * len(panels) + 0.5
    figure = Figure(figsize=(WIDTH_IN, height), dpi=DPI)
    named = figure.subplot_mosaic(panels, width_ratios=[3, 2])
    time_axis, accuracy_axis = named["time"], named["accuracy"]
    accuracy_axis.sharey(time_axis)
    accuracy_axis.tick_params(labelleft=False)
    axes = list(named.values())
    low = [s[0] if s else r for r, s in zip(step_ratios, step_spreads, strict=True)]
    high = [s[1] if s else r for r, s in zip(step_ratios, step_spreads, strict=True)]
    time_axis.axvline(1.0, color="0.2", linestyle="--", linewidth=1)
    # A job's ratio (of median step times) need not lie inside its per-epoch range.
    time_axis.hlines(rows + 0.12, low, high, color="tab:blue", linewidth=1)
    time_axis.plot(step_ratios, rows + 0.12, "o", color="tab:blue", label=step_label)
    time_axis.plot(latency_ratios, rows - 0.12, "D", color="tab:orange", label="inference latency")
    _center(time_axis, [*low, *high, *latency_ratios], 1.0, _MIN_RATIO_HALF_SPAN)
    time_axis.set_title("time, custom / stock (1.0 = equal)", fontsize=10)

    accuracy_axis.axvline(0.0, color="0.2", linestyle="--", linewidth=1)
    accuracy_axis.plot(accuracy_deltas, rows, "s", color="tab:green")
    _center(accuracy_axis, accuracy_deltas, 0.0, _MIN_DELTA_HALF_SPAN)
    accuracy_axis.set_title("test accuracy, custom - stock", fontsize=10)

    row_axes = [time_axis]
    if to_tensorflow:
        _draw_to_tensorflow(named["backend"], rows, to_tensorflow)
        row_axes.append(named["backend"])
    for axis in row_axes:
        axis.set_yticks(rows, labels, fontsize=9)
        axis.set_ylim(len(labels) - 0.5, -0.5)
    for axis in (time_axis, accuracy_axis):
        axis.xaxis.set_major_locator(MaxNLocator(5))
        axis.tick_params(axis="x", labelsize=8)
        axis.grid(axis="x", color="0.9")
    handles, names = [], []
    for axis in axes:
        axis_handles, axis_names = axis.get_legend_handles_labels()
        handles += axis_handles
        names += axis_names
    figure.legend(handles, names, loc="lower center", ncol=2, fontsize=8)
    legend_rows = (len(handles) + 1) // 2
    figure.tight_layout(rect=(0, (0.1 + 0.17 * legend_rows) / figure.get_figheight(), 1, 1))
    return figure


# The third panel's series: marker and colour per figure and layer.
_TO_TENSORFLOW_STYLES = {
    "step_time_vs_tensorflow_custom": ("o", "tab:blue", "step, custom / TF's"),
    "step_time_vs_tensorflow_stock": ("x", "tab:blue", "step, stock / TF's"),
    "infer_latency_vs_tensorflow_custom": ("D", "tab:orange", "latency, custom / TF's"),
    "infer_latency_vs_tensorflow_stock": ("+", "tab:orange", "latency, stock / TF's"),
}


def _draw_to_tensorflow(axis, rows, to_tensorflow):
    axis.axvline(1.0, color="0.2", linestyle="--", linewidth=1)
    offsets = np.linspace(0.18, -0.18, len(_TO_TENSORFLOW_STYLES))
    for offset, (series, (marker, colour, label)) in zip(
        offsets, _TO_TENSORFLOW_STYLES.items(), strict=True
    ):
        axis.plot(to_tensorflow[series], rows + offset, marker, color=colour, label=label)
    axis.set_xscale("log")
    axis.set_title("time, each backend / TensorFlow, same config (log scale)", fontsize=10)


def learning_curves_figure(labels, curves):
    """Each pair's validation accuracy and training loss per epoch, custom and stock overlaid.

    Args:
        labels: One label per pair.
        curves: Per pair, `{(layer, metric): (epochs, values)}` for layer
            `custom` or `stock` and metric `val_accuracy` or `train_loss`.

    Returns:
        A matplotlib `Figure`.
    """
    figure = Figure(figsize=(WIDTH_IN, max(3.4, 1.0 + 0.2 * len(labels))), dpi=DPI)
    axes = figure.subplots(1, 2)
    colours = pair_colours(len(labels))
    for axis, metric, title in (
        (axes[0], "val_accuracy", "validation accuracy"),
        (axes[1], "train_loss", "training loss"),
    ):
        for colour, pair_curves in zip(colours, curves, strict=True):
            for layer, style in _CURVE_STYLES.items():
                if (layer, metric) in pair_curves:
                    epochs, values = pair_curves[(layer, metric)]
                    axis.plot(epochs, values, color=colour, **style)
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("epoch", fontsize=9)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.tick_params(labelsize=8)
        axis.grid(color="0.9")
    styles = [
        Line2D([], [], color="0.3", label=layer, **style) for layer, style in _CURVE_STYLES.items()
    ]
    pairs = [
        Line2D([], [], color=colour, linewidth=3, label=label)
        for colour, label in zip(colours, labels, strict=True)
    ]
    figure.legend(handles=[*styles, *pairs], loc="center right", fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0, 0.84, 1))
    return figure


def pair_colours(count):
    """Distinct colours for `count` pairs: matplotlib's tab10, or tab20 past ten (then again)."""
    palette = matplotlib.colormaps["tab10" if count <= 10 else "tab20"].colors
    return [palette[index % len(palette)] for index in range(count)]


def _center(axis, values, reference, min_half_span):
    """Sets the x range symmetric around `reference`, wide enough for `values`."""
    finite = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    half_span = max(min_half_span, *(np.abs(finite - reference) * 1.15)) if finite.size else 1.0
    axis.set_xlim(reference - half_span, reference + half_span)
