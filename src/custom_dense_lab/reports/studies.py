"""The studies: per study, a summary line, a table and a figure from the pairs of its sweep.

Each study is a sweep of one preset (`conf/experiment/<study>.yaml`) logged to
the MLflow experiment `study-<name>`; `pairs` come from `summary.add_figures`.
"""

import datetime

import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from custom_dense_lab.reports import figures
from custom_dense_lab.reports.runs import LAYERS, epoch_histories

SPEED = [
    *(f"{m}_{layer}" for m in ("test_accuracy", "step_time_ms") for layer in LAYERS),
    "step_time_ratio",
]
LINES = ("o-", "x--")  # custom, stock
# At or below this test accuracy the model stays near chance (0.1 among 10 classes).
FAILED_ACCURACY = 0.3


def parity(pairs):
    """Custom against stock over the mission grid, across seeds."""
    config = [c for c in pairs.attrs["config_columns"] if c != "seed"] or ["model.units"]
    grouped = pairs.groupby(config, sort=True)["step_time_ratio"]
    table = (
        pairs.groupby(config, sort=True)
        .agg(
            seeds=("seed", "count"),
            test_accuracy_custom=("test_accuracy_custom", "mean"),
            test_accuracy_stock=("test_accuracy_stock", "mean"),
            max_abs_accuracy_delta=("test_accuracy_delta", lambda d: d.abs().max()),
            step_time_ratio_median=("step_time_ratio", "median"),
            step_time_ratio_min=("step_time_ratio", "min"),
            step_time_ratio_max=("step_time_ratio", "max"),
        )
        .reset_index()
    )
    summary = (
        f"{len(pairs)} pairs ({len(table)} configs x seeds). {_accuracy(pairs)} {_speed(pairs)}"
    )
    figure = Figure(figsize=(9, 4.5))
    axis = figure.subplots()
    for position, (_, ratios) in enumerate(grouped):
        axis.plot([position] * len(ratios), ratios, "o", color="tab:blue")
    axis.plot(range(len(table)), table["step_time_ratio_median"], "_", color="black", ms=20)
    axis.axhline(1.0, color="grey", linewidth=0.8)
    labels = [_label(row, config) for _, row in table.iterrows()]
    axis.set_xticks(range(len(table)), labels, rotation=35, ha="right", fontsize=8)
    axis.set(ylabel="step time, custom / stock", title="One dot per seed; bar: median")
    figure.tight_layout()
    return summary, table, figure


def width(pairs):
    """Accuracy, step time and achieved GFLOP/s as the hidden layers widen."""
    pairs = pairs.sort_values("model.units")
    table = pairs[
        ["model.units", "param_count_custom", *SPEED, "train_gflops_custom", "train_gflops_stock"]
    ]
    best = pairs.loc[pairs["test_accuracy_custom"].idxmax()]
    summary = (
        f"Best test accuracy {best['test_accuracy_custom']:.4f} at {best['model.units']} units. "
        f"{_accuracy(pairs)} {_speed(pairs)}"
    )
    series = [
        (layer, pairs, layer, style, None) for layer, style in zip(LAYERS, LINES, strict=True)
    ]
    panels = {
        "test_accuracy_{}": "test accuracy",
        "step_time_ms_{}": "median training step (ms)",
        "train_gflops_{}": "training GFLOP/s",
    }
    return summary, table, _against_units(panels, series)


def activations_initializers(pairs):
    """Final accuracy of every activation x initializer pair, with validation curves."""
    config = ["model.activation", "model.kernel_initializer"]
    pairs = pairs.sort_values(config).reset_index(drop=True)
    table = pairs[[*config, "test_accuracy_custom", "test_accuracy_stock", "test_accuracy_delta"]]
    table["trains"] = np.where(table["test_accuracy_custom"] > FAILED_ACCURACY, "yes", "no")
    failed = [_label(row, config) for _, row in table[table["trains"] == "no"].iterrows()]
    summary = (
        f"{len(table) - len(failed)} of {len(table)} pairs train (test accuracy above "
        f"{FAILED_ACCURACY}); the others stay at chance: {', '.join(failed) or 'none'}. "
        f"{_accuracy(pairs)}"
    )
    rows, columns = (sorted(pairs[c].unique()) for c in config)
    figure = Figure(figsize=(3 * len(columns), 2.4 * len(rows)))
    axes = figure.subplots(len(rows), len(columns), sharex=True, sharey=True, squeeze=False)
    for (_, row), curves in zip(
        pairs.iterrows(), epoch_histories(pairs, ("val_accuracy",)), strict=True
    ):
        axis = axes[rows.index(row[config[0]]), columns.index(row[config[1]])]
        for layer, style in zip(LAYERS, ("-", "--"), strict=True):
            axis.plot(*curves.get((layer, "val_accuracy"), ([], [])), style, label=layer)
        axis.set_title(_label(row, config), fontsize=8)
        axis.set_ylim(0, 1)
    axes[0, 0].legend(fontsize=7)
    figure.supxlabel("epoch")
    figure.supylabel("validation accuracy")
    figure.tight_layout()
    return summary, table, figure


def devices(pairs):
    """Step time by device, precision and batch size, custom beside stock."""
    config = pairs.attrs["config_columns"]
    pairs = pairs.sort_values(config).reset_index(drop=True)
    table = pairs[[*config, *SPEED, "train_gflops_custom"]]
    return (
        f"{len(pairs)} pairs. {_speed(pairs)} {_accuracy(pairs)}",
        table,
        figures.comparison_figure(
            pairs.assign(pair=[_label(row, config) for _, row in pairs.iterrows()]),
            epoch_histories(pairs, ("epoch_step_time_ms",)),
        ),
    )


def quantization(pairs):
    """Per mode and width: what quantizing costs in accuracy and gives in size and speed."""
    pairs = pairs.sort_values(["quantize", "model.units"]).reset_index(drop=True)
    for layer in LAYERS:
        pairs[f"accuracy_drop_{layer}"] = (
            pairs[f"test_accuracy_{layer}"] - pairs[f"quantized_test_accuracy_{layer}"]
        )
        for name, metric in (
            ("latency", "infer_latency_ms_p50"),
            ("throughput", "infer_throughput_sps"),
        ):
            pairs[f"{name}_quantized_over_float_{layer}"] = (
                pairs[f"quantized_{metric}_{layer}"] / pairs[f"{metric}_{layer}"]
            )
    pairs["size_quantized_over_float"] = (
        pairs["quantized_model_size_bytes_custom"] / pairs["model_size_bytes_custom"]
    )
    table = pairs[
        [
            "quantize",
            "model.units",
            *_both("accuracy_drop"),
            "quantized_test_accuracy_delta",
            "size_quantized_over_float",
            *_both("latency_quantized_over_float"),
            "quantized_infer_latency_ratio",
            *_both("throughput_quantized_over_float"),
        ]
    ]
    modes = "; ".join(
        f"{mode}: accuracy drop up to {group['accuracy_drop_custom'].max():.4f}, size "
        f"x{group['size_quantized_over_float'].median():.2f} of float, single-sample latency "
        f"x{group['latency_quantized_over_float_custom'].median():.2f} of float (median), "
        f"custom / stock {group['quantized_infer_latency_ratio'].median():.3f}"
        for mode, group in pairs.groupby("quantize")
    )
    summary = (
        f"{len(pairs)} pairs. Max |quantized test accuracy delta| custom - stock: "
        f"{pairs['quantized_test_accuracy_delta'].abs().max():.4f}. {modes}."
    )
    series = [
        (f"{mode} {layer}", group, layer, style, f"C{index}")
        for index, (mode, group) in enumerate(pairs.groupby("quantize"))
        for layer, style in zip(LAYERS, LINES, strict=True)
    ]
    panels = {
        "accuracy_drop_{}": "test accuracy, float - quantized",
        "latency_quantized_over_float_{}": "latency, quantized / float",
        "throughput_quantized_over_float_{}": "throughput, quantized / float",
    }
    return summary, table, _against_units(panels, series)


def backends(pairs):
    """Custom and stock on each Keras backend by width, with the backend's compiler on and off."""
    # The compile mode that ran (a tag), rather than the one asked for (`auto`, say).
    pairs = pairs.assign(jit_compile=pairs["tags.jit_compile_custom"])
    if "step_time_vs_tensorflow_custom" not in pairs:  # one backend, or none is TensorFlow
        pairs["step_time_vs_tensorflow_custom"] = np.nan
    by = ["backend", "jit_compile", "model.units"]
    pairs = pairs.sort_values(by).reset_index(drop=True)
    speeds = [
        "step_time_vs_tensorflow_custom",
        "infer_latency_ms_p50_custom",
        "train_gflops_custom",
    ]
    table = pairs[[*by, *SPEED, *speeds]]
    fastest = pairs.loc[pairs.groupby("model.units")["step_time_ms_custom"].idxmin()]
    summary = (
        f"{len(pairs)} pairs. {_accuracy(pairs)} {_speed(pairs)} Fastest training step per width "
        "(the jobs' own figures): "
        + "; ".join(
            f"{row['model.units']} units: {row['backend']} with jit_compile={row['jit_compile']} "
            f"({row['step_time_ms_custom']:.3g} ms)"
            for _, row in fastest.iterrows()
        )
        + "."
    )
    colours = {"tensorflow": "tab:orange", "jax": "tab:blue", "torch": "tab:red"}
    lines = {"true": "o-", "false": "o:"}  # the compiler on, off
    series = [
        (f"{backend}, jit {jit}", group, "custom", lines[jit], colours[backend])
        for (backend, jit), group in pairs.groupby(["backend", "jit_compile"])
    ]
    panels = {
        "step_time_ms_{}": "training step, custom (ms)",
        "step_time_ratio": "step time, custom / stock (timed in turns)",
        "test_accuracy_{}": "test accuracy, custom (stock is equal)",
    }
    figure = _against_units(panels, series)
    figure.axes[0].set_yscale("log")
    return summary, table, figure


STUDIES = {
    "parity": parity,
    "width": width,
    "activations_initializers": activations_initializers,
    "devices": devices,
    "quantization": quantization,
    "backends": backends,
}


def numeric(pairs):
    """`pairs` with its config columns and `model.units` as numbers where they are (params are text)."""
    for column in {*pairs.attrs["config_columns"], "model.units"} & set(pairs):
        values = pd.to_numeric(pairs[column], errors="coerce")
        if values.notna().all():
            pairs[column] = values
    return pairs


def provenance(parent_id, runs):
    """Where the figures come from: the sweep, its machine and software, its wall time."""
    info = mlflow.get_run(parent_id).info
    started = datetime.datetime.fromtimestamp(info.start_time / 1000, datetime.UTC)
    wall = f"{(info.end_time - info.start_time) / 1000:.0f} s" if info.end_time else "unknown"
    tags = runs.iloc[0]
    versions = "".join(
        f", {name} {runs[f'tags.{name}_version'].dropna().iloc[0]}"
        for name in ("jax", "torch")
        if runs.get(f"tags.{name}_version", pd.Series()).notna().any()
    )
    return (
        f"Sweep `{parent_id}` ({len(runs)} jobs, {runs['status'].eq('FINISHED').sum()} finished), "
        f"started {started:%Y-%m-%d %H:%M} UTC, wall time {wall}. Device: "
        f"{tags.get('tags.device', '?')} ({tags.get('tags.device_name', '?')}); tensorflow "
        f"{tags.get('tags.tf_version', '?')}, keras {tags.get('tags.keras_version', '?')}"
        f"{versions}; commit {str(tags.get('tags.git_commit', '?'))[:10]}."
    )


def _against_units(panels, series):
    """One panel per `{column: title}` (`{}` the layer) against units, a line per series.

    Each series is `(label, pairs, layer, style, colour)`; ratios get a line at 1.0.
    """
    figure = Figure(figsize=(12, 4))
    axes = figure.subplots(1, len(panels))
    for axis, (column, title) in zip(axes, panels.items(), strict=True):
        for label, group, layer, style, colour in series:
            values = group[column.format(layer)]
            axis.plot(group["model.units"], values, style, color=colour, label=label)
        axis.set_xscale("log", base=2)
        if "over" in column or "ratio" in column:
            axis.axhline(1.0, color="grey", linewidth=0.8)
        axis.set(xlabel="units per hidden layer", title=title)
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    return figure


def _both(name):
    return [f"{name}_{layer}" for layer in LAYERS]


def _accuracy(pairs):
    return (
        f"Max |test accuracy delta| custom - stock: {pairs['test_accuracy_delta'].abs().max():.4f}."
    )


def _speed(pairs):
    ratios = pairs["step_time_ratio"]
    if ratios.isna().all():
        return "Step time not timed in turns."
    return (
        f"Step-time ratio custom / stock, timed in turns: median {ratios.median():.3f}, "
        f"{ratios.min():.3f} to {ratios.max():.3f} over pairs."
    )


def _label(row, columns):
    return " ".join(f"{c.split('.')[-1]}={row[c]}" for c in columns)
