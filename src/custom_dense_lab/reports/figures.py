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
    labels, step_ratios, step_spreads, latency_ratios, accuracy_deltas, step_label
):
    """Per pair: custom / stock time ratios beside the test accuracy delta.

    Args:
        labels: One label per pair (what the pair's jobs share, e.g. "u128 tanh").
        step_ratios: Training-step time, custom / stock, per pair.
        step_spreads: Per pair, `(low, high)` of the bar around its step-time
            ratio, or `None` for no bar.
        latency_ratios: Single-sample inference latency, custom / stock.
        accuracy_deltas: Test accuracy, custom - stock.
        step_label: The legend's words for the step-time points and bars.

    Returns:
        A matplotlib `Figure`.
    """
    rows = np.arange(len(labels))
    figure = Figure(figsize=(WIDTH_IN, 1.5 + _ROW_IN * len(labels)), dpi=DPI)
    time_axis, accuracy_axis = figure.subplots(
        1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 2]}
    )
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

    time_axis.set_yticks(rows, labels, fontsize=9)
    time_axis.set_ylim(len(labels) - 0.5, -0.5)
    for axis in (time_axis, accuracy_axis):
        axis.xaxis.set_major_locator(MaxNLocator(5))
        axis.tick_params(axis="x", labelsize=8)
        axis.grid(axis="x", color="0.9")
    figure.legend(*time_axis.get_legend_handles_labels(), loc="lower center", ncol=2, fontsize=8)
    figure.tight_layout(rect=(0, 0.45 / figure.get_figheight(), 1, 1))
    return figure


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
