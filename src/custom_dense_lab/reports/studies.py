"""The studies: per study, a summary line, a table and a figure from its sweep's runs.

Each study is a sweep of one `experiment` preset (`conf/experiment/<study>.yaml`),
logged to its own MLflow experiment, `study-<name>`.
"""

import datetime

import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from custom_dense_lab.reports import comparison

# The columns of a study's table that set custom beside stock in accuracy and step time.
_ACCURACY_AND_STEP_TIME = (
    "test_accuracy_custom",
    "test_accuracy_stock",
    "step_time_ms_custom",
    "step_time_ms_stock",
    "step_time_ratio",
)
# A test accuracy at or below this stays near chance (0.1 among 10 classes): the model did not train.
FAILED_ACCURACY = 0.3


def parity(runs):
    """Custom against stock over the mission grid, across seeds."""
    pairs = _numeric_config(comparison.pair_runs(runs))
    config = [c for c in pairs.attrs["config_columns"] if c != "seed"]
    if not config:  # a single config, over seeds
        pairs["config"], config = "default", ["config"]
    grouped = pairs.groupby(config, sort=True)
    table = grouped.agg(
        seeds=("seed", "count"),
        test_accuracy_custom=("test_accuracy_custom", "mean"),
        test_accuracy_stock=("test_accuracy_stock", "mean"),
        max_abs_accuracy_delta=("test_accuracy_delta", lambda d: d.abs().max()),
        step_time_ratio_median=("step_time_ratio", "median"),
        step_time_ratio_min=("step_time_ratio", "min"),
        step_time_ratio_max=("step_time_ratio", "max"),
    ).reset_index()
    summary = (
        f"{len(pairs)} pairs ({len(table)} configs x seeds). Max |test accuracy delta| over all "
        f"pairs: {pairs['test_accuracy_delta'].abs().max():.4f}. Step-time ratio custom / stock, "
        f"timed in turns at the sweep's end: median {pairs['step_time_ratio'].median():.3f}, "
        f"{pairs['step_time_ratio'].min():.3f} to {pairs['step_time_ratio'].max():.3f} over pairs."
    )
    figure = Figure(figsize=(9, 4.5))
    axis = figure.subplots()
    labels = [_label(row, config) for _, row in table.iterrows()]
    for position, (_, group) in enumerate(grouped):
        axis.plot([position] * len(group), group["step_time_ratio"], "o", color="tab:blue")
    axis.plot(range(len(table)), table["step_time_ratio_median"], "_", color="black", ms=20)
    axis.axhline(1.0, color="grey", linewidth=0.8)
    axis.set_xticks(range(len(table)), labels, rotation=35, ha="right", fontsize=8)
    axis.set_ylabel("step time, custom / stock")
    axis.set_title("One dot per seed; bar: median")
    figure.tight_layout()
    return summary, table, figure


def width(runs):
    """Accuracy, step time and achieved GFLOP/s as the hidden layers widen."""
    pairs = _numeric_config(comparison.pair_runs(runs, metrics=("train_gflops", "param_count")))
    pairs["param_count_custom"] = pairs["param_count_custom"].astype(int)
    pairs = pairs.sort_values("model.units")
    table = pairs[
        [
            "model.units",
            "param_count_custom",
            *_ACCURACY_AND_STEP_TIME,
            "train_gflops_custom",
            "train_gflops_stock",
        ]
    ]
    best = pairs.loc[pairs["test_accuracy_custom"].idxmax()]
    summary = (
        f"Best test accuracy {best['test_accuracy_custom']:.4f} at {best['model.units']} units; "
        f"max |test accuracy delta| {pairs['test_accuracy_delta'].abs().max():.4f}; median "
        f"step-time ratio {pairs['step_time_ratio'].median():.3f} (timed in turns)."
    )
    figure = Figure(figsize=(12, 4))
    axes = figure.subplots(1, 3)
    for axis, metric, title in zip(
        axes,
        ("test_accuracy", "step_time_ms", "train_gflops"),
        ("test accuracy", "median training step (ms)", "training GFLOP/s"),
        strict=True,
    ):
        axis.plot(pairs["model.units"], pairs[f"{metric}_custom"], "o-", label="custom")
        axis.plot(pairs["model.units"], pairs[f"{metric}_stock"], "x--", label="stock")
        axis.set_xscale("log", base=2)
        axis.set_xlabel("units per hidden layer")
        axis.set_title(title)
    axes[0].legend()
    figure.tight_layout()
    return summary, table, figure


def activations_initializers(runs):
    """Final accuracy of every activation x initializer pair, with validation curves."""
    pairs = comparison.pair_runs(runs)
    config = ["model.activation", "model.kernel_initializer"]
    table = pairs[[*config, "test_accuracy_custom", "test_accuracy_stock", "test_accuracy_delta"]]
    table = table.sort_values(config).reset_index(drop=True)
    table["trains"] = np.where(table["test_accuracy_custom"] > FAILED_ACCURACY, "yes", "no")
    failed = table[table["trains"] == "no"]
    summary = (
        f"{len(table) - len(failed)} of {len(table)} pairs train (test accuracy above "
        f"{FAILED_ACCURACY}); the others stay at chance: "
        + (", ".join(_label(row, config) for _, row in failed.iterrows()) or "none")
        + f". Max |test accuracy delta| custom - stock: {pairs['test_accuracy_delta'].abs().max():.4f}."
    )
    activations = sorted(pairs["model.activation"].unique())
    initializers = sorted(pairs["model.kernel_initializer"].unique())
    figure = Figure(figsize=(3 * len(initializers), 2.4 * len(activations)))
    axes = figure.subplots(len(activations), len(initializers), sharex=True, sharey=True)
    client = mlflow.MlflowClient()
    for _, row in pairs.iterrows():
        axis = axes[
            activations.index(row["model.activation"]),
            initializers.index(row["model.kernel_initializer"]),
        ]
        for layer, style in (("custom", "-"), ("stock", "--")):
            history = client.get_metric_history(row[f"run_id_{layer}"], "val_accuracy")
            steps = [m.step for m in history]
            axis.plot(steps, [m.value for m in history], style, label=layer)
        axis.set_title(_label(row, config), fontsize=8)
        axis.set_ylim(0, 1)
    axes[0, 0].legend(fontsize=7)
    figure.supxlabel("epoch")
    figure.supylabel("validation accuracy")
    figure.tight_layout()
    return summary, table, figure


def devices(runs):
    """Step time by device, precision and batch size, custom beside stock."""
    pairs = _numeric_config(comparison.pair_runs(runs, metrics=("train_gflops",)))
    config = pairs.attrs["config_columns"]
    pairs = pairs.sort_values(config).reset_index(drop=True)
    table = pairs[
        [
            *config,
            *_ACCURACY_AND_STEP_TIME,
            "train_gflops_custom",
        ]
    ]
    summary = (
        f"{len(pairs)} pairs; median step-time ratio custom / stock, timed in turns, "
        f"{pairs['step_time_ratio'].median():.3f}; max |test accuracy delta| "
        f"{pairs['test_accuracy_delta'].abs().max():.4f}."
    )
    return summary, table, comparison.plot(pairs)


_QUANTIZATION_METRICS = (
    "quantized_test_accuracy",
    "quantized_infer_latency_ms_p50",
    "quantized_infer_throughput_sps",
    "infer_throughput_sps",
    "quantized_model_size_bytes",
    "model_size_bytes",
)


def quantization(runs):
    """Per mode and width: what quantizing costs in accuracy and gives in size and speed."""
    pairs = _numeric_config(comparison.pair_runs(runs, metrics=_QUANTIZATION_METRICS))
    pairs = _with_params(pairs, runs, ("quantize", "model.units"))
    for layer in ("custom", "stock"):
        pairs[f"accuracy_drop_{layer}"] = (
            pairs[f"test_accuracy_{layer}"] - pairs[f"quantized_test_accuracy_{layer}"]
        )
        pairs[f"latency_quantized_over_float_{layer}"] = (
            pairs[f"quantized_infer_latency_ms_p50_{layer}"]
            / pairs[f"infer_latency_ms_p50_{layer}"]
        )
        pairs[f"throughput_quantized_over_float_{layer}"] = (
            pairs[f"quantized_infer_throughput_sps_{layer}"]
            / pairs[f"infer_throughput_sps_{layer}"]
        )
    pairs["size_quantized_over_float"] = (
        pairs["quantized_model_size_bytes_custom"] / pairs["model_size_bytes_custom"]
    )
    pairs = pairs.sort_values(["quantize", "model.units"]).reset_index(drop=True)
    table = pairs[
        [
            "quantize",
            "model.units",
            "accuracy_drop_custom",
            "accuracy_drop_stock",
            "quantized_test_accuracy_delta",
            "size_quantized_over_float",
            "latency_quantized_over_float_custom",
            "latency_quantized_over_float_stock",
            "quantized_infer_latency_ratio",
            "throughput_quantized_over_float_custom",
            "throughput_quantized_over_float_stock",
        ]
    ]
    by_mode = pairs.groupby("quantize")
    summary = (
        f"{len(pairs)} pairs. Max |quantized test accuracy delta| custom - stock: "
        f"{pairs['quantized_test_accuracy_delta'].abs().max():.4f}. "
        + "; ".join(
            f"{mode}: accuracy drop up to {group['accuracy_drop_custom'].max():.4f}, size "
            f"x{group['size_quantized_over_float'].median():.2f} of float, single-sample latency "
            f"x{group['latency_quantized_over_float_custom'].median():.2f} of float (median), "
            f"custom / stock {group['quantized_infer_latency_ratio'].median():.3f}"
            for mode, group in by_mode
        )
        + "."
    )
    figure = Figure(figsize=(12, 4))
    axes = figure.subplots(1, 3)
    for axis, column, title in zip(
        axes,
        ("accuracy_drop", "latency_quantized_over_float", "throughput_quantized_over_float"),
        (
            "test accuracy, float - quantized",
            "latency, quantized / float",
            "throughput, quantized / float",
        ),
        strict=True,
    ):
        for colour, (mode, group) in zip(
            ("tab:blue", "tab:orange", "tab:green"), by_mode, strict=False
        ):
            for layer, style in (("custom", "o-"), ("stock", "x--")):
                axis.plot(
                    group["model.units"],
                    group[f"{column}_{layer}"],
                    style,
                    color=colour,
                    label=f"{mode} {layer}",
                )
        axis.set_xscale("log", base=2)
        axis.set_xlabel("units per hidden layer")
        axis.set_title(title)
    axes[1].axhline(1.0, color="grey", linewidth=0.8)
    axes[2].axhline(1.0, color="grey", linewidth=0.8)
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    return summary, table, figure


def backends(runs):
    """Custom and stock on each Keras backend by width, with the backend's compiler on and off."""
    pairs = _numeric_config(comparison.pair_runs(runs, metrics=("train_gflops",)))
    pairs = _with_params(pairs, runs, ("backend", "model.units"))
    # The compile mode that ran (a tag), rather than the one asked for (`auto`, say).
    pairs["jit_compile"] = pairs["run_id_custom"].map(runs.set_index("run_id")["tags.jit_compile"])
    if "step_time_vs_tensorflow_custom" not in pairs:  # one backend, or none is TensorFlow
        pairs["step_time_vs_tensorflow_custom"] = float("nan")
    by = ["backend", "jit_compile", "model.units"]
    pairs = pairs.sort_values(by).reset_index(drop=True)
    table = pairs[
        [
            *by,
            *_ACCURACY_AND_STEP_TIME,
            "step_time_vs_tensorflow_custom",
            "infer_latency_ms_p50_custom",
            "train_gflops_custom",
        ]
    ]
    fastest = pairs.loc[pairs.groupby("model.units")["step_time_ms_custom"].idxmin()]
    summary = (
        f"{len(pairs)} pairs. Max |test accuracy delta| custom - stock on any backend: "
        f"{pairs['test_accuracy_delta'].abs().max():.4f}. Step-time ratio custom / stock, timed "
        f"in turns: median {pairs['step_time_ratio'].median():.3f}, "
        f"{pairs['step_time_ratio'].min():.3f} to {pairs['step_time_ratio'].max():.3f}. Fastest "
        "training step per width (the jobs' own figures): "
        + "; ".join(
            f"{row['model.units']} units: {row['backend']} with jit_compile={row['jit_compile']} "
            f"({row['step_time_ms_custom']:.3g} ms)"
            for _, row in fastest.iterrows()
        )
        + "."
    )
    figure = Figure(figsize=(12, 4))
    axes = figure.subplots(1, 3)
    colours = {"tensorflow": "tab:orange", "jax": "tab:blue", "torch": "tab:red"}
    for (backend, jit), group in pairs.groupby(["backend", "jit_compile"]):
        style = "-" if jit == "true" else ":"
        label = f"{backend}, jit {jit}"
        colour = colours.get(backend, "tab:grey")
        axes[0].plot(group["model.units"], group["step_time_ms_custom"], "o" + style,
                     color=colour, label=label)  # fmt: skip
        axes[1].plot(group["model.units"], group["step_time_ratio"], "o" + style,
                     color=colour, label=label)  # fmt: skip
        axes[2].plot(group["model.units"], group["test_accuracy_custom"], "o" + style,
                     color=colour, label=label)  # fmt: skip
    for axis, title in zip(
        axes,
        ("training step, custom (ms)", "step time, custom / stock (timed in turns)",
         "test accuracy, custom (stock is equal)"),
        strict=True,
    ):  # fmt: skip
        axis.set_xscale("log", base=2)
        axis.set_xlabel("units per hidden layer")
        axis.set_title(title)
    axes[0].set_yscale("log")
    axes[1].axhline(1.0, color="grey", linewidth=0.8)
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    return summary, table, figure


STUDIES = {
    "parity": parity,
    "width": width,
    "activations_initializers": activations_initializers,
    "devices": devices,
    "quantization": quantization,
    "backends": backends,
}


def provenance(parent_id, runs):
    """Where the figures come from: the sweep, its machine and software, its wall time."""
    parent = mlflow.get_run(parent_id)
    tags = runs.iloc[0]
    started = datetime.datetime.fromtimestamp(parent.info.start_time / 1000, datetime.UTC)
    wall = (
        f"{(parent.info.end_time - parent.info.start_time) / 1000:.0f} s"
        if parent.info.end_time
        else "unknown"
    )
    backends = "".join(
        f", {name} {versions.dropna().iloc[0]}"
        for name in ("jax", "torch")
        if (versions := runs.get(f"tags.{name}_version")) is not None and versions.notna().any()
    )
    return (
        f"Sweep `{parent_id}` ({len(runs)} jobs, {runs['status'].eq('FINISHED').sum()} finished), "
        f"started {started:%Y-%m-%d %H:%M} UTC, wall time {wall}. Device: "
        f"{tags.get('tags.device', '?')} ({tags.get('tags.device_name', '?')}); tensorflow "
        f"{tags.get('tags.tf_version', '?')}, keras {tags.get('tags.keras_version', '?')}"
        f"{backends}; commit {str(tags.get('tags.git_commit', '?'))[:10]}."
    )


def _with_params(pairs, runs, keys):
    """`pairs` with a column for each of `keys`, from the runs' params where the sweep kept it fixed.

    `model.units` is a number.
    """
    for key in keys:
        if key not in pairs:
            pairs[key] = pairs["run_id_custom"].map(runs.set_index("run_id")[f"params.{key}"])
    if "model.units" in keys:
        pairs["model.units"] = pd.to_numeric(pairs["model.units"])
    return pairs


def _numeric_config(pairs):
    """Turns config columns that hold numbers (MLflow params are text) into numbers."""
    for column in pairs.attrs["config_columns"]:
        try:
            pairs[column] = pd.to_numeric(pairs[column])
        except ValueError:
            continue
    return pairs


def _label(row, columns):
    return " ".join(f"{c.split('.')[-1]}={row[c]}" for c in columns)
