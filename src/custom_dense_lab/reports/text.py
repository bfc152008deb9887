"""The comparison in words and tables: a terminal summary, the full Markdown, the parent's note."""

import math
import textwrap

import pandas as pd

from custom_dense_lab.reports.paired import NOISY_HALF_WIDTH, TO_TENSORFLOW_COLUMNS
from custom_dense_lab.tracking import ui

NO_PAIRS = "No custom/stock pairs: the sweep has no jobs that differ only in `layer`."
DASH = "—"
WIDTH = 100
ARTIFACTS = "`comparison.png` (ratios per pair), `learning_curves.png`, `comparison_table.json`"
FULL_COLUMNS = (
    "test_accuracy_custom", "test_accuracy_stock", "test_accuracy_delta",
    "step_time_ratio", "step_time_ratio_ci_low", "step_time_ratio_ci_high",
    "infer_latency_ratio", "infer_latency_ratio_ci_low", "infer_latency_ratio_ci_high",
    "sequential_step_time_ratio", "sequential_infer_latency_ratio",
    "step_time_ms_custom", "step_time_ms_stock",
    "infer_latency_ms_p50_custom", "infer_latency_ms_p50_stock",
    "quantized_test_accuracy_custom", "quantized_test_accuracy_stock",
    "quantized_test_accuracy_delta", "quantized_infer_latency_ratio",
    "quantized_model_size_bytes_custom", "quantized_model_size_bytes_stock",
    *TO_TENSORFLOW_COLUMNS, "not_timed", "noisy",
)  # fmt: skip
# The terminal's columns: the figures that decide a pair, under short names.
SHORT_COLUMNS = {
    "test_accuracy_delta": "acc. Δ",
    "quantized_test_accuracy_delta": "quant. Δ",
    "step_time_ratio": "step c/s",
    "step_time_ratio_interval": "step 95%",
    "infer_latency_ratio": "lat. c/s",
}


def full_table(pairs):
    """The pairs as comparison.csv and comparison_table.json hold them: config, figures, run ids."""
    columns = ["pair", *pairs.attrs["config_columns"], *(c for c in FULL_COLUMNS if c in pairs)]
    return pairs[[*columns, "run_id_custom", "run_id_stock"]]


def markdown(pairs, summary, document):
    """comparison.md: the verdict, then every pair with all its figures."""
    if pairs.empty:
        return NO_PAIRS + "\n"
    table = full_table(pairs).drop(columns=["run_id_custom", "run_id_stock"])
    lines = [*verdict(pairs, summary, document), "", markdown_table(table), _dashes(table, pairs)]
    return "\n".join(lines).rstrip() + "\n"


def terminal(pairs, summary, document):
    """The verdict and one row per pair with the figures that decide it, within 100 columns."""
    if pairs.empty:
        return NO_PAIRS
    short = pairs[[c for c in SHORT_COLUMNS if c in pairs]].copy()
    low, high = (pairs[f"step_time_ratio_ci_{end}"].map("{:.3f}".format) for end in ("low", "high"))
    interval = (low + "-" + high).where(pairs["step_time_ratio_ci_low"].notna())
    short.insert(short.columns.get_loc("step_time_ratio") + 1, "step_time_ratio_interval", interval)
    table = markdown_table(pairs[pairs.attrs["config_columns"]].join(short), SHORT_COLUMNS)
    if max(map(len, table.splitlines())) > WIDTH:  # the pairs' short labels instead
        table = markdown_table(pairs[["pair"]].join(short), SHORT_COLUMNS)
    notes = ["c/s: custom / stock, timed in turns; Δ: custom - stock.", _dashes(short, pairs)]
    notes.append("Every figure: comparison.md on the parent run, or custom-dense-compare --full.")
    wrapped = [_wrap(line) for line in verdict(pairs, summary, document)]
    return "\n".join([*wrapped, "", table, *(_wrap(line) for line in notes if line)])


def verdict(pairs, summary, document):
    """The verdict in a few short lines; lines that continue one start with two spaces."""
    delta = summary.get("max_abs_test_accuracy_delta")
    accuracy = (
        "test accuracy not recorded" if delta is None
        else "identical test accuracy" if delta == 0
        else f"test accuracy within {delta:.4f}"
    )  # fmt: skip
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
        if reasons:
            lines.append(f"Not timed in turns, with the jobs' own figures: {reasons}.")
    else:
        lines.append(f"Speed not timed in pairs ({reasons}).")
    noisy = pairs[pairs["noisy"] != ""]
    if len(noisy):
        listed = "; ".join(f"{row['pair']} ({row['noisy']})" for _, row in noisy.head(3).iterrows())
        more = f"; {len(noisy) - 3} more in comparison.md" if len(noisy) > 3 else ""
        lines.append(f"Noisy, speed figures rough: {listed}{more}.")
    if "median_sequential_step_time_ratio" in summary:
        lines.append(
            "The jobs' own step times, one job after another: median ratio "
            f"{summary['median_sequential_step_time_ratio']:.3f}, indicative only."
        )
    if "quantized_pair_count" in summary:
        lines.append(
            f"Quantized models ({summary['quantized_pair_count']:.0f} of the {len(pairs)} pairs): "
            f"test accuracy within {summary['max_abs_quantized_test_accuracy_delta']:.4f}, "
            f"latency c/s {summary['median_quantized_infer_latency_ratio']:.3f} (median, the "
            "jobs' own)."
        )
    backends = sorted({key.rpartition(".")[2] for key in summary if "_vs_tensorflow_" in key})
    if backends:
        lines.append(
            "Against TensorFlow, median over the configs (the jobs' own figures, one after another):"
        )
    words = ("step time custom", "stock", "latency custom", "stock")
    for backend in backends:
        figures = [
            f"{word} {summary[f'{column}.{backend}']:.2f}x"
            for word, column in zip(words, TO_TENSORFLOW_COLUMNS, strict=True)
            if f"{column}.{backend}" in summary
        ]
        lines.append(f"  {backend} {', '.join(figures)}")
    return lines


def note(pairs, summary, document, best, experiment_id):
    """The parent run's description (Markdown): the verdict, the best job, the artifacts."""
    first, *lines = verdict(pairs, summary, document) if len(pairs) else [NO_PAIRS]
    speed = ", speed not timed in pairs" if len(pairs) else ""
    if "median_step_time_ratio" in summary:
        ratio = summary["median_step_time_ratio"]
        speed = f", training step time ratio {ratio:.3f} (custom / stock, timed in turns)"
    bullets = [f"**{first.rstrip('.')}{speed}.**"]
    if best is not None:
        link = f"#/experiments/{experiment_id}/runs/{best['run_id']}?{ui.VIEW_QUERY}"
        bullets.append(
            f"- Best job (final val_accuracy): [{best.get('tags.mlflow.runName') or best['run_id']}]"
            f"({link}), val_accuracy {_number(best['metrics.val_accuracy'])}, "
            f"test_accuracy {_number(best.get('metrics.test_accuracy'))}."
        )
    bullets += [f"  - {line.strip()}" if line.startswith("  ") else f"- {line}" for line in lines]
    return "\n".join([*bullets, f"- Artifacts: {ARTIFACTS}."]) + "\n"


def markdown_table(frame, headers=None):
    """A Markdown table with aligned columns: numbers to the same decimals down a column, NaN "—";
    `headers`, `{column: header}` for columns shown under another name."""
    text = frame.apply(_column_text).rename(columns=headers or {})
    widths = [max(len(str(c)), *map(len, text[c])) for c in text]
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame]
    lines = [
        "| "
        + " | ".join(
            cell.rjust(w) if right and number else cell.ljust(w)
            for cell, w, right in zip(row, widths, numeric, strict=True)
        )
        + " |"
        for number, row in enumerate([list(map(str, text.columns)), *text.values.tolist()])
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _column_text(column):
    if not pd.api.types.is_float_dtype(column):
        return column.map(lambda v: DASH if pd.isna(v) else str(v))
    finite = column.abs()[column.abs() < math.inf]
    top = finite.max() if len(finite) else 0
    decimals = min(4, max(0, 3 - math.floor(math.log10(top)))) if top else 4
    return column.map(lambda v: DASH if pd.isna(v) else f"{v:.{decimals}f}")


def _dashes(frame, pairs):
    """Says why a cell shows "—"; "" where none does."""
    reasons = {}
    for column in frame.columns[frame.isna().any()]:
        if column.startswith(("step_time_ratio", "infer_latency_ratio")):
            why = "; ".join(sorted(set(pairs["not_timed"]) - {""}))
            reasons["timed"] = f"not timed in turns ({why})"
        elif "_vs_tensorflow_" in column:
            reasons["tf"] = "TensorFlow's own pairs (the reference), or none of that config on it"
        elif column.startswith("quantized_"):
            reasons["quantized"] = "pairs that do not quantize"
        else:
            reasons["missing"] = "a figure the jobs did not record"
    return f"{DASH}: {'; '.join(reasons.values())}." if reasons else ""


def _pooled(summary, name):
    low, high = summary[f"{name}_ratio_ci_low"], summary[f"{name}_ratio_ci_high"]
    ratio = summary[f"median_{name}_ratio"]
    wide = ", wider than ±5%: noisy" if high - low > 2 * NOISY_HALF_WIDTH * ratio else ""
    return f"{ratio:.3f} (95% interval {low:.3f} to {high:.3f}{wide})"


def _wrap(line):
    indent = " " * (len(line) - len(line.lstrip()) + 2)
    return textwrap.fill(line, WIDTH, subsequent_indent=indent)


def _number(value):
    return DASH if value is None or pd.isna(value) else f"{value:.4f}"
