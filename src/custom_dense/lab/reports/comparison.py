"""The comparison report of a sweep: custom and stock runs paired by identical config."""

import math
import time

import mlflow
import pandas as pd
from matplotlib.figure import Figure
from mlflow.entities import Metric

LAYER_PARAM = "params.layer.name"
# Every param of the `layer` group says which implementation ran: custom and stock differ there.
_LAYER_GROUP_PREFIX = "params.layer."
_PAIR_METRICS = ("test_accuracy", "step_time_ms", "infer_latency_ms_p50")


def child_runs(parent_run_id):
    """Returns the sweep's child runs as a DataFrame (`mlflow.search_runs` columns)."""
    experiment_id = mlflow.get_run(parent_run_id).info.experiment_id
    return mlflow.search_runs(
        experiment_ids=[experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
        order_by=["attributes.start_time ASC"],
    )


def pair_runs(runs, metrics=_PAIR_METRICS):
    """Pairs FINISHED custom and stock runs whose params are otherwise identical.

    Args:
        runs: A DataFrame of runs from `mlflow.search_runs`.
        metrics: The metrics to take from each run of a pair; the default
            three give the ratio and delta columns.

    Returns:
        A DataFrame with one row per pair: the params that vary across the
        sweep (also listed in `attrs["config_columns"]`), each metric for
        custom and stock, the accuracy delta (custom - stock) and the custom /
        stock ratios of step time and inference latency. Empty when nothing
        pairs.
    """
    if runs.empty or LAYER_PARAM not in runs:
        return pd.DataFrame()
    finished = runs[runs["status"] == "FINISHED"]
    params = sorted(
        c
        for c in finished.columns
        if c.startswith("params.") and not c.startswith(_LAYER_GROUP_PREFIX)
    )
    varying = [c for c in params if runs[c].astype(str).nunique() > 1]
    rows = []
    for _, group in finished.groupby([finished[c].astype(str) for c in params], sort=False):
        by_layer = {layer: run for layer, run in group.groupby(LAYER_PARAM)}
        if not {"custom", "stock"} <= by_layer.keys():
            continue
        custom, stock = by_layer["custom"].iloc[-1], by_layer["stock"].iloc[-1]
        row = {c.removeprefix("params."): custom[c] for c in varying}
        for metric in dict.fromkeys((*_PAIR_METRICS, *metrics)):
            row[f"{metric}_custom"] = custom.get(f"metrics.{metric}", math.nan)
            row[f"{metric}_stock"] = stock.get(f"metrics.{metric}", math.nan)
        row["test_accuracy_delta"] = row["test_accuracy_custom"] - row["test_accuracy_stock"]
        row["step_time_ratio"] = row["step_time_ms_custom"] / row["step_time_ms_stock"]
        row["infer_latency_ratio"] = (
            row["infer_latency_ms_p50_custom"] / row["infer_latency_ms_p50_stock"]
        )
        row["run_id_custom"], row["run_id_stock"] = custom["run_id"], stock["run_id"]
        rows.append(row)
    pairs = pd.DataFrame(rows)
    pairs.attrs["config_columns"] = [c.removeprefix("params.") for c in varying]
    return pairs


def summary_metrics(pairs):
    """The sweep's headline figures: largest accuracy gap and median step-time ratio."""
    if pairs.empty:
        return {}
    return {
        "max_abs_test_accuracy_delta": float(pairs["test_accuracy_delta"].abs().max()),
        "median_step_time_ratio": float(pairs["step_time_ratio"].median()),
        "median_infer_latency_ratio": float(pairs["infer_latency_ratio"].median()),
        "pair_count": float(len(pairs)),
    }


def to_markdown(pairs, summary):
    """Renders the pairs and the summary as a Markdown table with a short preamble."""
    if pairs.empty:
        return "No custom/stock pairs: the sweep has no jobs that differ only in `layer`.\n"
    lines = [
        f"Pairs: {len(pairs)}. Max |test accuracy delta|: "
        f"{summary['max_abs_test_accuracy_delta']:.4f}. Median step time ratio (custom / stock): "
        f"{summary['median_step_time_ratio']:.3f} "
        f"(min {pairs['step_time_ratio'].min():.3f}, max {pairs['step_time_ratio'].max():.3f}). "
        f"Median inference latency ratio: {summary['median_infer_latency_ratio']:.3f}.",
        "",
        markdown_table(pairs.drop(columns=["run_id_custom", "run_id_stock"])),
    ]
    return "\n".join(lines) + "\n"


def markdown_table(frame):
    """Renders a DataFrame as a Markdown table, numbers to 4 significant digits."""
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = [
        "| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body])


def plot(pairs):
    """Draws step time and test accuracy per config, custom beside stock."""
    config_columns = pairs.attrs.get("config_columns", [])
    labels = [
        " ".join(f"{c.split('.')[-1]}={row[c]}" for c in config_columns) or "default"
        for _, row in pairs.iterrows()
    ]
    positions = range(len(labels))
    width = 0.4
    figure = Figure(figsize=(max(6, 0.7 * len(labels) + 2), 7))
    axes = figure.subplots(2, 1, sharex=True)
    for axis, metric, title in (
        (axes[0], "step_time_ms", "Median training step (ms)"),
        (axes[1], "test_accuracy", "Test accuracy"),
    ):
        axis.bar(
            [p - width / 2 for p in positions], pairs[f"{metric}_custom"], width, label="custom"
        )
        axis.bar([p + width / 2 for p in positions], pairs[f"{metric}_stock"], width, label="stock")
        axis.set_title(title)
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes[1].set_xticks(list(positions), labels, rotation=60, ha="right", fontsize=8)
    figure.tight_layout()
    return figure


def log_report(parent_run_id):
    """Builds the comparison of a sweep and logs it on the parent run.

    Logs `comparison.csv`, `comparison.md`, `comparison.png` and the summary
    metrics (`max_abs_test_accuracy_delta`, `median_step_time_ratio`, ...).

    Returns:
        `(pairs, markdown)`.
    """
    pairs = pair_runs(child_runs(parent_run_id))
    summary = summary_metrics(pairs)
    markdown = to_markdown(pairs, summary)
    client = mlflow.MlflowClient()
    client.log_text(parent_run_id, pairs.to_csv(index=False), "comparison.csv")
    client.log_text(parent_run_id, markdown, "comparison.md")
    if not pairs.empty:
        figure = plot(pairs)
        client.log_figure(parent_run_id, figure, "comparison.png")
        timestamp = int(time.time() * 1000)
        client.log_batch(
            parent_run_id, metrics=[Metric(k, v, timestamp, 0) for k, v in summary.items()]
        )
    return pairs, markdown


def _cell(value):
    if isinstance(value, float) and not math.isnan(value):
        return f"{value:.4g}"
    return str(value)
