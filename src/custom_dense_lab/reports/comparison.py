"""A sweep's comparison, built from its runs in words, tables and figures, logged on its parent."""

import math
import textwrap
import time
from collections import namedtuple

import matplotlib
import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, ScalarFormatter
from mlflow.entities import Metric

from custom_dense_lab.reports import paired, runs
from custom_dense_lab.reports.paired import NOISY_HALF_WIDTH, TO_TENSORFLOW_COLUMNS
from custom_dense_lab.tracking import ui

TABLE_JSON, COMPARISON_PNG = "comparison_table.json", "comparison.png"
CURVES_PNG = "learning_curves.png"
NO_PAIRS = "No custom/stock pairs: the sweep has no jobs that differ only in `layer`."
DASH, WIDTH = "—", 100
ARTIFACTS = "`comparison.png` (ratios per pair), `learning_curves.png`, `comparison_table.json`"
FULL_COLUMNS = (
    "test_accuracy_custom", "test_accuracy_stock", "test_accuracy_delta",
    "step_time_ratio", "step_time_ratio_ci_low", "step_time_ratio_ci_high",
    "infer_latency_ratio", "infer_latency_ratio_ci_low", "infer_latency_ratio_ci_high",
    "sequential_step_time_ratio", "sequential_infer_latency_ratio",
    "step_time_ms_custom", "step_time_ms_stock", "infer_latency_ms_p50_custom",
    "infer_latency_ms_p50_stock", "quantized_test_accuracy_custom", "quantized_test_accuracy_stock",
    "quantized_test_accuracy_delta", "quantized_infer_latency_ratio",
    "quantized_model_size_bytes_custom", "quantized_model_size_bytes_stock",
    *TO_TENSORFLOW_COLUMNS, "not_timed", "noisy",
)  # fmt: skip
# The terminal's columns: the figures that decide a pair, under short names.
SHORT_COLUMNS = {
    "test_accuracy_delta": "acc. Δ", "quantized_test_accuracy_delta": "quant. Δ",
    "step_time_ratio": "step c/s", "step_time_ratio_interval": "step 95%",
    "infer_latency_ratio": "lat. c/s",
}  # fmt: skip
# The verdict's lines where the sweep's metrics hold their key.
LINES = {
    "median_sequential_step_time_ratio": "The jobs' own step times, one job after another: median "
    "ratio {median_sequential_step_time_ratio:.3f}, indicative only.",
    "quantized_pair_count": "Quantized models ({quantized_pair_count:.0f} of the {pair_count:.0f} "
    "pairs): test accuracy within {max_abs_quantized_test_accuracy_delta:.4f}, latency c/s "
    "{median_quantized_infer_latency_ratio:.3f} (median, the jobs' own).",
}
AGAINST = "Against TensorFlow, median over the configs (the jobs' own figures, one after another):"
WORDS = ("step time custom", "stock", "latency custom", "stock")  # of TO_TENSORFLOW_COLUMNS
# The pairs' DataFrame (empty where nothing pairs), the terminal's summary, comparison.md.
Report = namedtuple("Report", "pairs terminal markdown")
# The figures, 700 pixels wide for the MLflow UI's artifact view.
WIDTH_IN, DPI, ROW_IN = 7.0, 100, 0.32
# The backends' panel: a marker, colour and legend per column of TO_TENSORFLOW_COLUMNS.
TO_TENSORFLOW_STYLES = [
    ("^", "tab:blue", "step, custom / TF's"), ("v", "tab:blue", "step, stock / TF's"),
    ("P", "tab:orange", "latency, custom / TF's"), ("X", "tab:orange", "latency, stock / TF's"),
]  # fmt: skip
# Custom a wide pale line, stock dashed on top of it: equal curves show both.
CURVE_STYLES = {"custom": {"linestyle": "-", "linewidth": 4.0, "alpha": 0.4},
                "stock": {"linestyle": "--", "linewidth": 1.6}}  # fmt: skip


def log_report(parent_run_id):
    """Compares a sweep's custom and stock jobs and logs it all on its parent run (docs/runs.md)."""
    jobs, document = runs.child_runs(parent_run_id), paired.load_document(parent_run_id)
    timings = {(e["run_id_custom"], e["run_id_stock"]): e for e in document.get("pairs", [])}
    pairs = paired.add_figures(runs.pair_runs(jobs), timings)
    client, metrics, csv, terminal, markdown = mlflow.MlflowClient(), {}, "", NO_PAIRS, NO_PAIRS
    if not pairs.empty:
        pairs.insert(0, "pair", runs.pair_labels(pairs))
        histories = runs.epoch_histories(pairs)
        paired.add_noise(pairs, timings, histories)
        metrics = paired.summary_metrics(pairs, timings)
        full = ["pair", *pairs.attrs["config_columns"], *(c for c in FULL_COLUMNS if c in pairs)]
        table = pairs[[*full, "run_id_custom", "run_id_stock"]]
        csv = table.to_csv(index=False)
        if TABLE_JSON in {a.path for a in client.list_artifacts(parent_run_id)}:
            # `log_table` appends to a table logged before: a rebuilt report writes over it.
            client.log_text(parent_run_id, table.to_json(orient="split", index=False), TABLE_JSON)
        else:
            client.log_table(parent_run_id, table, TABLE_JSON)
        client.log_figure(parent_run_id, comparison_figure(pairs), COMPARISON_PNG)
        curves = learning_curves_figure(list(pairs["pair"]), histories)
        client.log_figure(parent_run_id, curves, CURVES_PNG)
        now = int(time.time() * 1000)
        client.log_batch(parent_run_id, [Metric(k, v, now, 0) for k, v in metrics.items()])
        lines = verdict(pairs, metrics, document)
        markdown = "\n".join([*lines, "", markdown_table(pairs[full]), _dashes(pairs[full], pairs)])
        terminal = _terminal(pairs, lines)
    client.log_text(parent_run_id, csv, "comparison.csv")
    markdown = markdown.rstrip() + "\n"
    client.log_text(parent_run_id, markdown, "comparison.md")
    client.set_tag(parent_run_id, ui.NOTE_TAG, _note(pairs, metrics, document, runs.best_job(jobs)))
    return Report(pairs, terminal, markdown)


def _terminal(pairs, lines):
    """The verdict and one row per pair with the figures that decide it, within 100 columns."""
    low, high = (pairs[f"step_time_ratio_ci_{end}"].map("{:.3f}".format) for end in ("low", "high"))
    interval = (low + "-" + high).where(pairs["step_time_ratio_ci_low"].notna())
    pairs["step_time_ratio_interval"] = interval
    names = [c for c in SHORT_COLUMNS if c in pairs]
    short = pairs[names].rename(columns=SHORT_COLUMNS)
    table = markdown_table(pairs[pairs.attrs["config_columns"]].join(short))
    if max(map(len, table.splitlines())) > WIDTH:  # the pairs' short labels instead
        table = markdown_table(pairs[["pair"]].join(short))
    key = "c/s: custom / stock, timed in turns; Δ: custom - stock."
    more = "Every figure: comparison.md on the parent run, or custom-dense-compare --full."
    notes = [key, _dashes(pairs[names], pairs), more]
    wrapped = [
        textwrap.fill(x, WIDTH, subsequent_indent=" " * (len(x) - len(x.lstrip()) + 2))
        for x in [*lines, *notes]
        if x
    ]
    return "\n".join([*wrapped[: len(lines)], "", table, *wrapped[len(lines) :]])


def verdict(pairs, summary, document):
    """The verdict in a few short lines; lines that continue one start with two spaces."""
    delta = summary.get("max_abs_test_accuracy_delta")
    accuracy = f"test accuracy within {delta:.4f}" if delta else "identical test accuracy"
    accuracy = "test accuracy not recorded" if delta is None else accuracy
    lines = [f"{len(pairs)} custom/stock pairs: {accuracy}."]
    reasons = "; ".join(sorted(set(pairs["not_timed"]) - {""}))
    if "median_step_time_ratio" in summary:
        capped = " (the cap)" if document.get("stopped_by") == "max_rounds" else ""
        lines += [
            f"Training step time, custom / stock: {_pooled(summary, 'step_time')}",
            f"Inference latency of one example:   {_pooled(summary, 'infer_latency')}",
            f"  timed in turns at the sweep's end, {summary['timed_pair_count']:.0f} of the "
            f"{len(pairs)} pairs; paired timing: {document['rounds']} rounds{capped} in "
            f"{document['wall_s']:.0f} s.",
        ]
        lines += [f"Not timed in turns, with the jobs' own figures: {reasons}."] if reasons else []
    else:
        lines.append(f"Speed not timed in pairs ({reasons}).")
    if len(noisy := pairs[pairs["noisy"] != ""]):
        listed = "; ".join(f"{row['pair']} ({row['noisy']})" for _, row in noisy.head(3).iterrows())
        more = f"; {len(noisy) - 3} more in comparison.md" if len(noisy) > 3 else ""
        lines.append(f"Noisy, speed figures rough: {listed}{more}.")
    lines += [line.format(**summary) for key, line in LINES.items() if key in summary]
    backends = sorted({key.rpartition(".")[2] for key in summary if "_vs_tensorflow_" in key})
    lines += [AGAINST] if backends else []
    for backend in backends:
        found = [(w, f"{c}.{backend}") for w, c in zip(WORDS, TO_TENSORFLOW_COLUMNS, strict=True)]
        figures = ", ".join(f"{w} {summary[k]:.2f}x" for w, k in found if k in summary)
        lines.append(f"  {backend} {figures}")
    return lines


def _note(pairs, summary, document, best):
    """The parent run's description (Markdown): the verdict, the best job, the artifacts."""
    first, *lines = verdict(pairs, summary, document) if len(pairs) else [NO_PAIRS]
    speed = ", speed not timed in pairs" if len(pairs) else ""
    if "median_step_time_ratio" in summary:
        ratio = summary["median_step_time_ratio"]
        speed = f", training step time ratio {ratio:.3f} (custom / stock, timed in turns)"
    bullets = [f"**{first.rstrip('.')}{speed}.**"]
    if best is not None:
        link = f"#/experiments/{best['experiment_id']}/runs/{best['run_id']}?{ui.VIEW_QUERY}"
        test = best.get("metrics.test_accuracy")
        bullets.append(
            f"- Best job (final val_accuracy): [{best.get('tags.mlflow.runName') or best['run_id']}]"
            f"({link}), val_accuracy {best['metrics.val_accuracy']:.4f}, test_accuracy "
            f"{f'{test:.4f}' if pd.notna(test) else DASH}."
        )
    bullets += [f"  - {line.strip()}" if line.startswith("  ") else f"- {line}" for line in lines]
    return "\n".join([*bullets, f"- Artifacts: {ARTIFACTS}."]) + "\n"


def markdown_table(frame):
    """A Markdown table, aligned: numbers right and to the same decimals down a column, NaN "—"."""
    columns = []
    for name in frame:
        cells = [str(name), *_column_text(frame[name])]
        align = str.rjust if pd.api.types.is_numeric_dtype(frame[name]) else str.ljust
        columns.append([align(cell, max(map(len, cells))) for cell in cells])
    rows = [f"| {' | '.join(row)} |" for row in zip(*columns, strict=True)]
    rows.insert(1, "|" + "|".join("-" * (len(cells[0]) + 2) for cells in columns) + "|")
    return "\n".join(rows)


def _column_text(column):
    """A column's cells as text: floats to as many decimals as its largest needs, NaN "—"."""
    top = column.abs()[column.abs() < math.inf].max() if column.dtype.kind == "f" else 0
    decimals = min(4, max(0, 3 - math.floor(math.log10(top)))) if top > 0 else 4
    form = f"{{:.{decimals}f}}" if column.dtype.kind == "f" else "{}"
    return column.map(lambda value: DASH if pd.isna(value) else form.format(value))


def _dashes(frame, pairs):
    """Says why a cell shows "—"; "" where none does."""
    why = "; ".join(sorted(set(pairs["not_timed"]) - {""}))
    reasons = {
        ("step_time_ratio", "infer_latency_ratio"): f"not timed in turns ({why})",
        ("step_time_vs", "infer_latency_vs"): "TensorFlow's own pairs (the reference), or none "
        "of that config on it",
        ("quantized_",): "pairs that do not quantize",
        ("",): "a figure the jobs did not record",
    }
    empty = frame.columns[frame.isna().any()]
    found = dict.fromkeys(next(r for s, r in reasons.items() if c.startswith(s)) for c in empty)
    return f"{DASH}: {'; '.join(found)}." if found else ""


def _pooled(summary, name):
    low, high = summary[f"{name}_ratio_ci_low"], summary[f"{name}_ratio_ci_high"]
    ratio = summary[f"median_{name}_ratio"]
    wide = ", wider than ±5%: noisy" if high - low > 2 * NOISY_HALF_WIDTH * ratio else ""
    return f"{ratio:.3f} (95% interval {low:.3f} to {high:.3f}{wide})"


def comparison_figure(pairs):
    """Per pair (`pairs` with a `pair` label), the custom / stock time ratios around 1.0 beside
    the accuracy delta around 0, and a panel of times over TensorFlow's in a sweep of backends."""
    low, high = pairs["step_time_ratio_ci_low"], pairs["step_time_ratio_ci_high"]
    step = pairs["step_time_ratio"].fillna(pairs["sequential_step_time_ratio"])
    latency = pairs["infer_latency_ratio"].fillna(pairs["sequential_infer_latency_ratio"])
    accuracy = pairs["test_accuracy_delta"]
    if "quantized_test_accuracy_delta" in pairs:  # the quantized models' figures, where there
        latency = pairs["quantized_infer_latency_ratio"].fillna(latency)
        accuracy = pairs["quantized_test_accuracy_delta"].fillna(accuracy)
    rows = np.arange(len(pairs))
    panels = [["time", "accuracy"]] + [["backend"] * 2] * (TO_TENSORFLOW_COLUMNS[0] in pairs)
    figure = Figure(figsize=(WIDTH_IN, (1.0 + ROW_IN * len(rows)) * len(panels) + 0.5), dpi=DPI)
    axes = figure.subplot_mosaic(panels, width_ratios=[3, 2])
    axes["time"].hlines(rows + 0.12, low, high, color="tab:blue", linewidth=1)
    step_label = "training step (bar: 95% interval, where timed in turns)"
    axes["time"].plot(step, rows + 0.12, "o", color="tab:blue", label=step_label)
    axes["time"].plot(latency, rows - 0.12, "D", color="tab:orange", label="inference latency")
    _center(axes["time"], [*low, *high, *latency], 1.0, 0.1, "time, custom / stock (1.0 = equal)")
    axes["accuracy"].plot(accuracy, rows, "s", color="tab:green")
    _center(axes["accuracy"], accuracy, 0.0, 0.01, "test accuracy, custom - stock")
    axes["accuracy"].sharey(axes["time"])
    axes["accuracy"].tick_params(labelleft=False)
    if backend := axes.get("backend"):
        offsets = np.linspace(0.18, -0.18, len(TO_TENSORFLOW_STYLES))
        for offset, column, (marker, colour, label) in zip(
            offsets, TO_TENSORFLOW_COLUMNS, TO_TENSORFLOW_STYLES, strict=True
        ):
            backend.plot(pairs[column], rows + offset, marker, color=colour, label=label)
        backend.axvline(1.0, color="0.2", linestyle="--", linewidth=1)
        backend.set_xscale("log")
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
        axis.set(title=title, xlabel="epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles = [Line2D([], [], color="0.3", label=layer, **s) for layer, s in CURVE_STYLES.items()]
    handles += [Line2D([], [], color=c, linewidth=3, label=lab) for lab, c in colours.items()]
    figure.legend(handles=handles, loc="center right", fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0, 0.84, 1))
    return figure


def _center(axis, values, reference, min_half_span, title):
    """A reference line, a range symmetric around it that holds `values`, the title and grid."""
    offsets = np.abs(np.asarray(values, dtype=float) - reference)
    half_span = max(min_half_span, 1.15 * offsets[np.isfinite(offsets)].max(initial=0))
    axis.axvline(reference, color="0.2", linestyle="--", linewidth=1)
    axis.set(xlim=(reference - half_span, reference + half_span), title=title)
    axis.xaxis.set_major_locator(MaxNLocator(5))
