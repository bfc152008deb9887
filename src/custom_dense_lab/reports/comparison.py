"""The comparison report of a sweep: custom and stock runs paired by identical config."""

import math
import time

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Metric

from custom_dense_lab.reports import backends, figures, paired
from custom_dense_lab.tracking import names, ui

LAYER_PARAM = "params.layer.name"
COMPARISON_PNG = "comparison.png"
CURVES_PNG = "learning_curves.png"
TABLE_JSON = "comparison_table.json"
NO_PAIRS = "No custom/stock pairs: the sweep has no jobs that differ only in `layer`."
# Every param of the `layer` group says which implementation ran: custom and stock differ there.
_LAYER_GROUP_PREFIX = "params.layer."
_PAIR_METRICS = ("test_accuracy", "step_time_ms", "infer_latency_ms_p50")
# What a job with `quantize` set records of its quantized model, beside the float figures.
_QUANTIZED_METRICS = (
    "quantized_test_accuracy",
    "quantized_infer_latency_ms_p50",
    "quantized_model_size_bytes",
)
# Per-epoch metrics the figures draw: the step-time spread and the learning curves.
_EPOCH_KEYS = ("epoch_step_time_ms", "val_accuracy", "train_loss")


def child_runs(parent_run_id):
    """Returns the sweep's child runs as a DataFrame (`mlflow.search_runs` columns).

    The pairs' paired timings that the sweep logged on its parent come with
    them, in `attrs["paired_timings"]` (see `paired.load_timings`).
    """
    experiment_id = mlflow.get_run(parent_run_id).info.experiment_id
    runs = mlflow.search_runs(
        experiment_ids=[experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
        order_by=["attributes.start_time ASC"],
    )
    runs.attrs["paired_timings"] = paired.load_timings(parent_run_id)
    return runs


def pair_runs(runs, metrics=_PAIR_METRICS):
    """Pairs FINISHED custom and stock runs whose params are otherwise identical.

    Args:
        runs: A DataFrame of runs from `mlflow.search_runs`.
        metrics: More metrics to take from each run of a pair, beside the
            three that give the ratio and delta columns.

    Returns:
        A DataFrame with one row per pair: the params that vary across the
        sweep (also listed in `attrs["config_columns"]`), each metric for
        custom and stock, the accuracy delta (custom - stock), the custom /
        stock ratios of step time and inference latency timed in turns at the
        sweep's end with their intervals (`paired.pair_figures`; NaN for a
        pair not timed, with the reason in `not_timed`), and the same ratios
        of the jobs' own figures (`sequential_step_time_ratio`,
        `sequential_infer_latency_ratio`). In a sweep that quantizes, the
        quantized models' figures too, with their accuracy delta and latency
        ratio (NaN for the pairs that do not quantize). The timed pairs'
        timings are in `attrs["paired_timings"]`. Empty when nothing pairs.
    """
    if runs.empty or LAYER_PARAM not in runs:
        return pd.DataFrame()
    if f"metrics.{_QUANTIZED_METRICS[0]}" in runs:
        metrics = (*metrics, *_QUANTIZED_METRICS)
    finished = runs[runs["status"] == "FINISHED"]
    params = sorted(
        c
        for c in finished.columns
        if c.startswith("params.") and not c.startswith(_LAYER_GROUP_PREFIX)
    )
    varying = [c for c in params if runs[c].astype(str).nunique() > 1]
    timings = runs.attrs.get("paired_timings", {})
    rows = []
    same_config = [finished[c].astype(str) for c in params] or [pd.Series(0, finished.index)]
    for _, group in finished.groupby(same_config, sort=False):
        by_layer = {
            layer: [run for _, run in runs_of_layer.sort_values("start_time").iterrows()]
            for layer, runs_of_layer in group.groupby(LAYER_PARAM)
        }
        # A config swept twice (`layer=custom,custom,stock`): the k-th custom run and the
        # k-th stock run, in the order they started, make the k-th pair.
        for custom, stock in zip(
            by_layer.get("custom", []), by_layer.get("stock", []), strict=False
        ):
            row = _pair_row(custom, stock, varying, metrics)
            rows.append({**row, **paired.pair_figures(timings.get(_pair_key(row)))})
    pairs = pd.DataFrame(rows)
    pairs.attrs["config_columns"] = [c.removeprefix("params.") for c in varying]
    pairs.attrs["paired_timings"] = [
        timings[_pair_key(row)] for row in rows if _pair_key(row) in timings
    ]
    return backends.add_ratios_to_tensorflow(pairs)


def _pair_key(row):
    return row["run_id_custom"], row["run_id_stock"]


def _pair_row(custom, stock, varying, metrics):
    """One pair's row: the varying params, each metric of both runs, the delta and ratios."""
    row = {c.removeprefix("params."): custom[c] for c in varying}
    for metric in dict.fromkeys((*_PAIR_METRICS, *metrics)):
        row[f"{metric}_custom"] = custom.get(f"metrics.{metric}", math.nan)
        row[f"{metric}_stock"] = stock.get(f"metrics.{metric}", math.nan)
    row["test_accuracy_delta"] = row["test_accuracy_custom"] - row["test_accuracy_stock"]
    row["sequential_step_time_ratio"] = row["step_time_ms_custom"] / row["step_time_ms_stock"]
    row["sequential_infer_latency_ratio"] = (
        row["infer_latency_ms_p50_custom"] / row["infer_latency_ms_p50_stock"]
    )
    if "quantized_test_accuracy_custom" in row:
        row["quantized_test_accuracy_delta"] = (
            row["quantized_test_accuracy_custom"] - row["quantized_test_accuracy_stock"]
        )
        row["quantized_infer_latency_ratio"] = (
            row["quantized_infer_latency_ms_p50_custom"]
            / row["quantized_infer_latency_ms_p50_stock"]
        )
    row["run_id_custom"], row["run_id_stock"] = custom["run_id"], stock["run_id"]
    return row


def summary_metrics(pairs):
    """The sweep's headline figures, to 4 significant digits.

    The largest accuracy gap; the custom / stock ratios of training step time
    and inference latency timed in turns at the sweep's end, over the rounds
    of all timed pairs, with their bootstrap 95% intervals
    (`paired.sweep_figures`; absent when no pair was timed); the medians over
    the pairs of the jobs' own, sequential ratios; the number of pairs.
    """
    if pairs.empty:
        return {}
    figures = {
        "max_abs_test_accuracy_delta": pairs["test_accuracy_delta"].abs().max(),
        **paired.sweep_figures(pairs.attrs.get("paired_timings", [])),
        "median_sequential_step_time_ratio": pairs["sequential_step_time_ratio"].median(),
        "median_sequential_infer_latency_ratio": pairs["sequential_infer_latency_ratio"].median(),
        "pair_count": len(pairs),
        **_quantized_summary(pairs),
        **backends.summary_metrics(pairs),
    }
    return {key: _rounded(value) for key, value in figures.items()}


def _quantized_summary(pairs):
    """The quantized pairs' largest accuracy gap and median latency ratio; `{}` without any."""
    quantized = pairs.dropna(subset=["quantized_test_accuracy_delta"]) if _quantizes(pairs) else []
    if len(quantized) == 0:
        return {}
    return {
        "max_abs_quantized_test_accuracy_delta": quantized["quantized_test_accuracy_delta"]
        .abs()
        .max(),
        "median_quantized_infer_latency_ratio": quantized["quantized_infer_latency_ratio"].median(),
        "quantized_pair_count": len(quantized),
    }


def _quantizes(pairs):
    return "quantized_test_accuracy_delta" in pairs


def to_markdown(pairs, summary):
    """Renders the pairs and the summary as a Markdown table with a short preamble."""
    if pairs.empty:
        return NO_PAIRS + "\n"
    lines = [
        f"Pairs: {len(pairs)}. Max |test accuracy delta|: "
        f"{summary['max_abs_test_accuracy_delta']:.4f}. {speed_sentence(pairs, summary)}"
        + _quantized_sentence(summary)
        + (f" {backends.summary_line(summary)}" if backends.summary_line(summary) else ""),
        "",
        markdown_table(pairs.drop(columns=["run_id_custom", "run_id_stock"])),
    ]
    return "\n".join(lines) + "\n"


def speed_sentence(pairs, summary):
    """The sweep's speed verdict: the paired ratios with their intervals, or why there are none."""
    sequential = (
        f"The jobs' own step times, one job after the other, give a median ratio of "
        f"{summary['median_sequential_step_time_ratio']:.3f}: what each job saw, indicative only."
    )
    if "median_step_time_ratio" not in summary:
        reasons = sorted(set(pairs["not_timed"]) - {""})
        return f"Speed not timed in pairs ({'; '.join(reasons)}). {sequential}"
    timings = pairs.attrs["paired_timings"]
    rounds = sum(len(e["seconds"]["train_step"]["custom"]) for e in timings if "seconds" in e)
    return (
        f"Training step time, custom / stock: {summary['median_step_time_ratio']:.3f} "
        f"({_interval(summary, 'step_time')}); inference latency of one example: "
        f"{summary['median_infer_latency_ratio']:.3f} ({_interval(summary, 'infer_latency')}); "
        f"timed in turns at the sweep's end, pooled over {rounds} rounds of "
        f"{summary['timed_pair_count']:.0f} of the {len(pairs)} pairs{_untimed(pairs)}. "
        f"{sequential}"
    )


def _untimed(pairs):
    """`" (the others: <reasons>)"` for the pairs not timed, or nothing."""
    reasons = sorted(set(pairs["not_timed"]) - {""})
    return f" (the others not timed: {'; '.join(reasons)})" if reasons else ""


def _interval(summary, name):
    return paired.interval_text(summary[f"{name}_ratio_ci_low"], summary[f"{name}_ratio_ci_high"])


def _quantized_sentence(summary):
    if "quantized_pair_count" not in summary:
        return ""
    return (
        f" Quantized pairs: {summary['quantized_pair_count']:.0f}, max |test accuracy delta| "
        f"{summary['max_abs_quantized_test_accuracy_delta']:.4f}, median inference latency "
        f"ratio {summary['median_quantized_infer_latency_ratio']:.3f}."
    )


def best_job(runs):
    """The finished job with the highest final `val_accuracy` (a row of `runs`), or `None`."""
    if runs.empty or "metrics.val_accuracy" not in runs:
        return None
    finished = runs[(runs["status"] == "FINISHED") & runs["metrics.val_accuracy"].notna()]
    if finished.empty:
        return None
    return finished.loc[finished["metrics.val_accuracy"].idxmax()]


def summary_note(pairs, summary, best, experiment_id):
    """The parent run's description: the verdict in a few Markdown lines.

    Args:
        pairs: The pairs, from `pair_runs`.
        summary: Their figures, from `summary_metrics`.
        best: The best job's row (`best_job`), or `None`.
        experiment_id: The experiment, for the link to the best job.

    Returns:
        Markdown for the tag `mlflow.note.content`.
    """
    if pairs.empty:
        headline, details = f"**{NO_PAIRS}**", []
    else:
        delta = summary["max_abs_test_accuracy_delta"]
        verdict = "identical test accuracy" if delta == 0 else f"test accuracy within {delta:.4f}"
        speed = (
            f"training step time ratio {summary['median_step_time_ratio']:.3f} (custom / stock, "
            "timed in turns)"
            if "median_step_time_ratio" in summary
            else "speed not timed in pairs"
        )
        headline = f"**{len(pairs)} custom/stock pairs: {verdict}, {speed}.**"
        details = [
            f"- {speed_sentence(pairs, summary)}",
            f"- Largest test accuracy gap, custom - stock: {delta:.4f}.",
        ]
        if "quantized_pair_count" in summary:
            details.append(
                f"- Quantized models ({summary['quantized_pair_count']:.0f} of the pairs): largest test "
                f"accuracy gap {summary['max_abs_quantized_test_accuracy_delta']:.4f}, inference "
                f"latency custom / stock median {summary['median_quantized_infer_latency_ratio']:.3f} "
                "(the jobs' own figures)."
            )
        if backends.summary_line(summary):
            details.append(f"- {backends.summary_line(summary)}")
    lines = [headline]
    if best is not None:
        link = f"#/experiments/{experiment_id}/runs/{best['run_id']}?{ui.VIEW_QUERY}"
        name = best.get("tags.mlflow.runName") or best["run_id"]
        lines.append(
            f"- Best job (final val_accuracy): [{name}]({link}), val_accuracy "
            f"{best['metrics.val_accuracy']:.4f}, test_accuracy "
            f"{best.get('metrics.test_accuracy', math.nan):.4f}."
        )
    lines += details
    lines.append(
        f"- Artifacts: `{COMPARISON_PNG}` (ratios per pair), `{CURVES_PNG}`, `{TABLE_JSON}`."
    )
    return "\n".join(lines) + "\n"


def markdown_table(frame):
    """Renders a DataFrame as a Markdown table, numbers to 4 significant digits."""
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = [
        "| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body])


def pair_labels(pairs):
    """A short label per pair: its values of the keys the sweep varies ("u128 tanh")."""
    columns = pairs.attrs.get("config_columns", [])
    return names.numbered(
        names.job_name({column: str(row[column]) for column in columns}) if columns else "pair"
        for _, row in pairs.iterrows()
    )


def plot(pairs, epoch_spreads=None):
    """Draws per pair the time ratios custom / stock around 1.0 and the accuracy delta.

    A timed pair shows its paired ratios, with the step-time ratio's 95%
    interval; a pair not timed shows its jobs' own ratios, with the range of
    the per-epoch step-time ratios. A pair that quantizes shows its quantized
    models' latency ratio and accuracy delta: those of the models it ships.

    Args:
        pairs: The pairs, from `pair_runs`.
        epoch_spreads: Per pair, `(low, high)` of its per-epoch step-time
            ratios, or `None` (also for the whole argument) where unknown.
    """
    timed = pairs["step_time_ratio"].notna()
    step = pairs["step_time_ratio"].fillna(pairs["sequential_step_time_ratio"])
    latency = pairs["infer_latency_ratio"].fillna(pairs["sequential_infer_latency_ratio"])
    accuracy = pairs["test_accuracy_delta"]
    if _quantizes(pairs):
        latency = pairs["quantized_infer_latency_ratio"].fillna(latency)
        accuracy = pairs["quantized_test_accuracy_delta"].fillna(accuracy)
    epoch_spreads = epoch_spreads or [None] * len(pairs)
    bars = [
        (row["step_time_ratio_ci_low"], row["step_time_ratio_ci_high"]) if is_timed else spread
        for (_, row), is_timed, spread in zip(pairs.iterrows(), timed, epoch_spreads, strict=True)
    ]
    if timed.all():
        step_label = "training step, timed in turns (bar: 95% interval)"
    elif not timed.any():
        step_label = "training step, the jobs' own (bar: per-epoch range)"
    else:
        step_label = "training step (bar: 95% interval; per-epoch range where not timed)"
    to_tensorflow = None
    if backends.varies_backend(pairs):
        to_tensorflow = {
            f"{name}_vs_tensorflow_{layer}": list(pairs[f"{name}_vs_tensorflow_{layer}"])
            for name in ("step_time", "infer_latency")
            for layer in backends.LAYERS
        }
    return figures.comparison_figure(
        pair_labels(pairs),
        list(step),
        bars,
        list(latency),
        list(accuracy),
        step_label,
        to_tensorflow,
    )


def epoch_histories(pairs, keys=_EPOCH_KEYS):
    """Per pair, `{(layer, key): (epochs, values)}` of the custom and stock runs' histories."""
    client = mlflow.MlflowClient()
    histories = []
    for _, row in pairs.iterrows():
        curves = {}
        for layer in ("custom", "stock"):
            for key in keys:
                history = sorted(
                    (m.step, m.value)
                    for m in client.get_metric_history(row[f"run_id_{layer}"], key)
                )
                if history:
                    steps, values = np.asarray(history).T
                    curves[(layer, key)] = (steps, values)
        histories.append(curves)
    return histories


def step_spread(curves):
    """`(low, high)` of a pair's per-epoch step-time ratios after the first epoch, or `None`."""
    custom = curves.get(("custom", "epoch_step_time_ms"))
    stock = curves.get(("stock", "epoch_step_time_ms"))
    if custom is None or stock is None or len(custom[1]) != len(stock[1]):
        return None
    ratios = custom[1] / stock[1]
    steady = ratios[1:] if len(ratios) > 1 else ratios
    return float(steady.min()), float(steady.max())


def pair_table(pairs):
    """The pairs as the table logged with `log_table`: a label, the figures, the run ids."""
    columns = [
        "test_accuracy_custom",
        "test_accuracy_stock",
        "test_accuracy_delta",
        "step_time_ratio",
        "step_time_ratio_ci_low",
        "step_time_ratio_ci_high",
        "infer_latency_ratio",
        "sequential_step_time_ratio",
        "step_time_ms_custom",
        "step_time_ms_stock",
    ]
    if _quantizes(pairs):
        columns += [
            "quantized_test_accuracy_custom",
            "quantized_test_accuracy_stock",
            "quantized_test_accuracy_delta",
            "quantized_infer_latency_ratio",
            "quantized_model_size_bytes_custom",
        ]
    if backends.varies_backend(pairs):
        columns += [
            f"{name}_vs_tensorflow_{layer}"
            for name in ("step_time", "infer_latency")
            for layer in backends.LAYERS
        ]
    table = pairs[columns].map(_rounded)
    table.insert(0, "pair", pair_labels(pairs))
    table["run_id_custom"], table["run_id_stock"] = pairs["run_id_custom"], pairs["run_id_stock"]
    return table


def log_report(parent_run_id):
    """Builds the comparison of a sweep and logs it on the parent run.

    Logs `comparison.csv`, `comparison.md`, the pair table `comparison_table.json`
    (`log_table`: the UI shows it as a table), the figures `comparison.png` and
    `learning_curves.png`, the summary metrics (`max_abs_test_accuracy_delta`,
    `median_step_time_ratio`, ...) and the summary as the parent's description.

    Returns:
        `(pairs, markdown)`.
    """
    runs = child_runs(parent_run_id)
    pairs = pair_runs(runs)
    summary = summary_metrics(pairs)
    markdown = to_markdown(pairs, summary)
    client = mlflow.MlflowClient()
    client.log_text(parent_run_id, pairs.to_csv(index=False), "comparison.csv")
    client.log_text(parent_run_id, markdown, "comparison.md")
    if not pairs.empty:
        histories = epoch_histories(pairs)
        _log_table(client, parent_run_id, pair_table(pairs))
        spreads = [step_spread(curves) for curves in histories]
        client.log_figure(parent_run_id, plot(pairs, spreads), COMPARISON_PNG)
        curves = figures.learning_curves_figure(pair_labels(pairs), histories)
        client.log_figure(parent_run_id, curves, CURVES_PNG)
        timestamp = int(time.time() * 1000)
        client.log_batch(
            parent_run_id, metrics=[Metric(k, v, timestamp, 0) for k, v in summary.items()]
        )
    experiment_id = mlflow.get_run(parent_run_id).info.experiment_id
    note = summary_note(pairs, summary, best_job(runs), experiment_id)
    client.set_tag(parent_run_id, ui.NOTE_TAG, note)
    return pairs, markdown


def _log_table(client, run_id, table):
    """Logs the pair table with `log_table`, which the UI shows as a table; replaces an old one.

    `log_table` appends to a table the run already has: a rebuilt report
    (`custom-dense-compare`) writes the same JSON over it instead.
    """
    if TABLE_JSON in {artifact.path for artifact in client.list_artifacts(run_id)}:
        client.log_text(run_id, table.to_json(orient="split", index=False), TABLE_JSON)
    else:
        client.log_table(run_id, table, TABLE_JSON)


def _rounded(value):
    """`value` to 4 significant digits, as a float."""
    return float(f"{value:.4g}")


def _cell(value):
    if isinstance(value, float) and not math.isnan(value):
        return f"{value:.4g}"
    return str(value)
