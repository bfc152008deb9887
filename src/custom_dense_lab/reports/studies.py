"""The studies: each turns its sweep's pairs (`paired.add_figures`) into words, a table, a figure."""

import datetime

import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from custom_dense_lab.reports import figures
from custom_dense_lab.reports.runs import LAYERS, epoch_histories

SPEED = [f"{m}_{layer}" for m in ("test_accuracy", "step_time_ms") for layer in LAYERS]
SPEED.append("step_time_ratio")
FAILED_ACCURACY = 0.3  # at or below: near chance (0.1 among 10 classes)


def parity(pairs):
    """Custom against stock over the mission grid, across seeds."""
    config = [c for c in pairs.attrs["config_columns"] if c != "seed"] or ["model.units"]
    groups, ratio = pairs.groupby(config, sort=True), "step_time_ratio"
    table = groups.agg(
        seeds=("seed", "count"),
        test_accuracy_custom=("test_accuracy_custom", "mean"),
        test_accuracy_stock=("test_accuracy_stock", "mean"),
        max_abs_accuracy_delta=("test_accuracy_delta", lambda d: d.abs().max()),
        step_time_ratio_median=(ratio, "median"),
        step_time_ratio_min=(ratio, "min"),
        step_time_ratio_max=(ratio, "max"),
    ).reset_index()
    words = f"{len(pairs)} pairs ({len(table)} configs x seeds). {_accuracy(pairs)} {_speed(pairs)}"
    figure = Figure(figsize=(9, 4.5))
    axis = figure.subplots()
    axis.plot(groups.ngroup(), pairs[ratio], "o", color="tab:blue")
    axis.plot(table.index, table["step_time_ratio_median"], "_", color="black", ms=20)
    axis.axhline(1.0, color="grey", linewidth=0.8)
    axis.set_xticks(table.index, _labels(table, config), rotation=35, ha="right", fontsize=8)
    axis.set(ylabel="step time, custom / stock", title="One dot per seed; bar: median")
    figure.tight_layout()
    return words, table, figure


def width(pairs):
    """Accuracy, step time and achieved GFLOP/s as the hidden layers widen."""
    pairs = pairs.sort_values("model.units")
    best = pairs.loc[pairs["test_accuracy_custom"].idxmax()]
    words = (
        f"Best test accuracy {best['test_accuracy_custom']:.4f} at {best['model.units']} units. "
        f"{_accuracy(pairs)} {_speed(pairs)}"
    )
    gflops = ["train_gflops_custom", "train_gflops_stock"]
    table = pairs[["model.units", "param_count_custom", *SPEED, *gflops]]
    panels = {
        "test_accuracy_{}": "test accuracy",
        "step_time_ms_{}": "median training step (ms)",
        "train_gflops_{}": "training GFLOP/s",
    }
    return words, table, _against_units(pairs, panels)


def activations_initializers(pairs):
    """Final accuracy of every activation x initializer pair, with validation curves."""
    config = ["model.activation", "model.kernel_initializer"]
    pairs = pairs.sort_values(config).reset_index(drop=True)
    table = pairs[[*config, "test_accuracy_custom", "test_accuracy_stock", "test_accuracy_delta"]]
    table = table.assign(
        trains=np.where(table["test_accuracy_custom"] > FAILED_ACCURACY, "yes", "no")
    )
    failed = _labels(table[table["trains"] == "no"], config)
    words = (
        f"{len(table) - len(failed)} of {len(table)} pairs train (test accuracy above "
        f"{FAILED_ACCURACY}); the others stay at chance: {', '.join(failed) or 'none'}. "
        f"{_accuracy(pairs)}"
    )
    rows, columns = (sorted(pairs[c].unique()) for c in config)
    figure = Figure(figsize=(3 * len(columns), 2.4 * len(rows)))
    axes = figure.subplots(len(rows), len(columns), sharex=True, sharey=True, squeeze=False)
    histories = epoch_histories(pairs, ("val_accuracy",))
    for (_, row), label, curves in zip(
        pairs.iterrows(), _labels(pairs, config), histories, strict=True
    ):
        axis = axes[rows.index(row[config[0]]), columns.index(row[config[1]])]
        for layer, style in zip(LAYERS, ("-", "--"), strict=True):
            axis.plot(*curves.get((layer, "val_accuracy"), ([], [])), style, label=layer)
        axis.set_title(label, fontsize=8)
        axis.set_ylim(0, 1)
    axes[0, 0].legend(fontsize=7)
    figure.supxlabel("epoch")
    figure.supylabel("validation accuracy")
    figure.tight_layout()
    return words, table, figure


def devices(pairs):
    """Step time by device, precision and batch size, custom beside stock."""
    config = pairs.attrs["config_columns"]
    pairs = pairs.sort_values(config).reset_index(drop=True)
    histories = epoch_histories(pairs, ("epoch_step_time_ms",))
    figure = figures.comparison_figure(pairs.assign(pair=_labels(pairs, config)), histories)
    words = f"{len(pairs)} pairs. {_speed(pairs)} {_accuracy(pairs)}"
    return words, pairs[[*config, *SPEED, "train_gflops_custom"]], figure


def quantization(pairs):
    """Per mode and width: what quantizing costs in accuracy and gives in size and speed."""
    pairs = pairs.sort_values(["quantize", "model.units"]).reset_index(drop=True)
    over_float = {"latency": "infer_latency_ms_p50", "throughput": "infer_throughput_sps"}
    for layer in LAYERS:
        drop = pairs[f"test_accuracy_{layer}"] - pairs[f"quantized_test_accuracy_{layer}"]
        pairs[f"accuracy_drop_{layer}"] = drop
        for name, metric in over_float.items():
            quantized = pairs[f"quantized_{metric}_{layer}"]
            pairs[f"{name}_quantized_over_float_{layer}"] = quantized / pairs[f"{metric}_{layer}"]
    size = pairs["quantized_model_size_bytes_custom"] / pairs["model_size_bytes_custom"]
    pairs["size_quantized_over_float"] = size
    panels = {
        "accuracy_drop_{}": "test accuracy, float - quantized",
        "latency_quantized_over_float_{}": "latency, quantized / float",
        "throughput_quantized_over_float_{}": "throughput, quantized / float",
    }
    drop, latency, throughput = ([column.format(layer) for layer in LAYERS] for column in panels)
    columns = ["quantize", "model.units", *drop, "quantized_test_accuracy_delta"]
    columns += ["size_quantized_over_float", *latency, "quantized_infer_latency_ratio", *throughput]
    modes = "; ".join(
        f"{mode}: accuracy drop up to {group['accuracy_drop_custom'].max():.4f}, size "
        f"x{group['size_quantized_over_float'].median():.2f} of float, single-sample latency "
        f"x{group['latency_quantized_over_float_custom'].median():.2f} of float (median), "
        f"custom / stock {group['quantized_infer_latency_ratio'].median():.3f}"
        for mode, group in pairs.groupby("quantize")
    )
    words = (
        f"{len(pairs)} pairs. Max |quantized test accuracy delta| custom - stock: "
        f"{pairs['quantized_test_accuracy_delta'].abs().max():.4f}. {modes}."
    )
    return words, pairs[columns], _against_units(pairs, panels, by=["quantize"])


def backends(pairs):
    """Custom and stock on each Keras backend by width, with the backend's compiler on and off."""
    pairs = pairs.assign(jit_compile=pairs["tags.jit_compile_custom"])  # what ran, not `auto`
    if "step_time_vs_tensorflow_custom" not in pairs:  # one backend, or none is TensorFlow
        pairs["step_time_vs_tensorflow_custom"] = np.nan
    by = ["backend", "jit_compile", "model.units"]
    pairs = pairs.sort_values(by).reset_index(drop=True)
    speeds = [
        f"{c}_custom" for c in ("step_time_vs_tensorflow", "infer_latency_ms_p50", "train_gflops")
    ]
    fastest = pairs.loc[pairs.groupby("model.units")["step_time_ms_custom"].idxmin()]
    per_width = "; ".join(
        f"{row['model.units']} units: {row['backend']} with jit_compile={row['jit_compile']} "
        f"({row['step_time_ms_custom']:.3g} ms)"
        for _, row in fastest.iterrows()
    )
    words = f"{len(pairs)} pairs. {_accuracy(pairs)} {_speed(pairs)} Fastest training step per "
    words += f"width (the jobs' own figures): {per_width}."
    panels = {
        "step_time_ms_{}": "training step, custom (ms)",
        "step_time_ratio": "step time, custom / stock (timed in turns)",
        "test_accuracy_{}": "test accuracy, custom (stock is equal)",
    }
    figure = _against_units(pairs, panels, by=by[:2], layers=LAYERS[:1])
    figure.axes[0].set_yscale("log")
    return words, pairs[[*by, *SPEED, *speeds]], figure


STUDIES = {
    study.__name__: study
    for study in (parity, width, activations_initializers, devices, quantization, backends)
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


def _against_units(pairs, panels, by=(), layers=LAYERS):
    """One panel per `{column: title}` (`{}`: the layer) against units, a line per group and layer."""
    figure = Figure(figsize=(12, 4))
    axes = figure.subplots(1, len(panels))
    groups = list(pairs.groupby(by)) if by else [((), pairs)]
    for axis, (column, title) in zip(axes, panels.items(), strict=True):
        for index, (key, group) in enumerate(groups):
            for layer, style in zip(layers, ("o-", "x--"), strict=False):
                label = [f"{name}={value}" for name, value in zip(by, key, strict=True)]
                label = " ".join(label + [layer] * (len(layers) > 1))
                values = group[column.format(layer)]
                colour = f"C{index}" if by else None
                axis.plot(group["model.units"], values, style, color=colour, label=label)
        axis.set_xscale("log", base=2)
        if "over" in column or "ratio" in column:
            axis.axhline(1.0, color="grey", linewidth=0.8)
        axis.set(xlabel="units per hidden layer", title=title)
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    return figure


def _accuracy(pairs):
    delta = pairs["test_accuracy_delta"].abs().max()
    return f"Max |test accuracy delta| custom - stock: {delta:.4f}."


def _speed(pairs):
    ratios = pairs["step_time_ratio"]
    if ratios.isna().all():
        return "Step time not timed in turns."
    return (
        f"Step-time ratio custom / stock, timed in turns: median {ratios.median():.3f}, "
        f"{ratios.min():.3f} to {ratios.max():.3f} over pairs."
    )


def _labels(frame, columns):
    return [
        " ".join(f"{c.split('.')[-1]}={row[c]}" for c in columns) for _, row in frame.iterrows()
    ]
