"""The studies: one report for each, words, a table of its configs and a figure, from its pairs."""

import datetime

import mlflow
import pandas as pd
from matplotlib.figure import Figure

from custom_dense_lab.reports.runs import LAYERS

# Each study's figure: a panel per column (`{}`: custom and stock) against its last config key.
STUDIES = {
    "parity": ["test_accuracy_{}", "step_time_ratio"],
    "width": ["test_accuracy_{}", "step_time_ms_{}", "train_gflops_{}"],
    "activations_initializers": ["test_accuracy_{}"],
    "devices": ["step_time_ms_{}", "test_accuracy_{}", "train_gflops_{}"],
    "quantization": ["accuracy_drop_{}", "size_over_float_{}", "latency_over_float_{}"],
    "backends": ["step_time_ms_{}", "step_time_ratio", "step_time_vs_tensorflow_{}"],
}
# Every study's table: these columns, then those of its figure.
COLUMNS = ["test_accuracy_{}", "test_accuracy_delta", "step_time_ms_{}", "step_time_ratio"]
QUANTIZED = {"latency": "infer_latency_ms_p50", "size": "model_size_bytes"}
CHANCE = 0.3  # test accuracy at or below: near chance (0.1 among 10 classes)


def report(study, pairs):
    """The study's words, its table (a row per config, the median over its pairs, seeds say)
    and its figure, from its pairs (`paired.add_figures`)."""
    by = [c for c in pairs.attrs["config_columns"] if c != "seed"] or ["model.units"]
    for column in {*by, "model.units"} & set(pairs):  # params are text: numbers where they are
        if pd.to_numeric(pairs[column], errors="coerce").notna().all():
            pairs[column] = pd.to_numeric(pairs[column])
    for layer in LAYERS if "quantized_test_accuracy_custom" in pairs else []:
        accuracy = pairs[f"test_accuracy_{layer}"] - pairs[f"quantized_test_accuracy_{layer}"]
        pairs[f"accuracy_drop_{layer}"] = accuracy
        for name, metric in QUANTIZED.items():
            quantized = pairs[f"quantized_{metric}_{layer}"] / pairs[f"{metric}_{layer}"]
            pairs[f"{name}_over_float_{layer}"] = quantized
    columns = [c.format(layer) for c in [*COLUMNS, *STUDIES[study]] for layer in LAYERS]
    groups = pairs.groupby(by)
    table = groups[[c for c in dict.fromkeys(columns) if c in pairs]].median()
    table.insert(0, "pairs", groups.size())
    table = table.reset_index()
    table.index = [" ".join(f"{c.split('.')[-1]}={r[c]}" for c in by) for _, r in table.iterrows()]
    best, fastest = table["test_accuracy_custom"].idxmax(), table["step_time_ms_custom"].idxmin()
    ratios = pairs["step_time_ratio"]
    speed = (
        f"Step-time ratio custom / stock, timed in turns: median {ratios.median():.3f}, "
        f"{ratios.min():.3f} to {ratios.max():.3f} over pairs."
        if ratios.notna().any() else "Step time not timed in turns."
    )  # fmt: skip
    words = (
        f"{len(pairs)} pairs, {len(table)} configs. Max |test accuracy delta| custom - stock: "
        f"{pairs['test_accuracy_delta'].abs().max():.4f}. {speed} Best test accuracy "
        f"{table.loc[best, 'test_accuracy_custom']:.4f} ({best}); fastest training step "
        f"{table.loc[fastest, 'step_time_ms_custom']:.3g} ms ({fastest}, the jobs' own); near "
        f"chance (test accuracy at or below {CHANCE}): "
        f"{', '.join(table.index[table['test_accuracy_custom'] <= CHANCE]) or 'none'}."
    )
    x = "model.units" if "model.units" in by else by[-1]
    keys = [c for c in by if c != x]
    lines = list(table.groupby(keys, sort=False)) if keys else [((), table)]
    figure = Figure(figsize=(4 * len(STUDIES[study]), 4))
    axes = figure.subplots(1, len(STUDIES[study]), squeeze=False)[0]
    for axis, column in zip(axes, STUDIES[study], strict=True):
        for colour, (values, group) in enumerate(lines):
            label = " ".join(f"{c.split('.')[-1]}={v}" for c, v in zip(keys, values, strict=True))
            for layer, style in zip(LAYERS, ("o-", "x--"), strict=True):
                if column.format(layer) in group and ("{}" in column or layer == "custom"):
                    name = f"{label} {layer}".strip() if "{}" in column else label
                    y = group[column.format(layer)]
                    axis.plot(group[x].astype(str), y, style, color=f"C{colour}", label=name)
        axis.set(xlabel=x, title=column.replace("_{}", ""))
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    return words, table, figure


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
