"""A sweep over Keras backends: each backend's jobs against TensorFlow's jobs of the same config.

Custom and stock are compared within a backend, in turns (see `paired`).
Backends cannot be: each runs in a process of its own, one after another, so
their ratios here come from the jobs' own figures, and say so.
"""

import math

BACKEND_COLUMN = "backend"
REFERENCE_BACKEND = "tensorflow"
# The jobs' figures set against TensorFlow's: the column's metric, the ratio's name.
_FIGURES = {"step_time_ms": "step_time", "infer_latency_ms_p50": "infer_latency"}
LAYERS = ("custom", "stock")


def varies_backend(pairs):
    """Whether the pairs come from more than one backend, TensorFlow among them."""
    return (
        BACKEND_COLUMN in pairs
        and REFERENCE_BACKEND in set(pairs[BACKEND_COLUMN])
        and (pairs[BACKEND_COLUMN].nunique() > 1)
    )


def add_ratios_to_tensorflow(pairs):
    """Adds to each pair its figures over those of TensorFlow's pair of the same config.

    Args:
        pairs: The pairs of `comparison.pair_runs`, with `backend` among
            their config columns.

    Returns:
        `pairs`, with `{step_time,infer_latency}_vs_tensorflow_{custom,stock}`:
        the job's step time (or single-example latency) over the TensorFlow
        job's of the same config and layer; NaN on TensorFlow's own pairs and
        where TensorFlow has no pair of that config. Unchanged when the sweep
        does not vary the backend.
    """
    if not varies_backend(pairs):
        return pairs
    config = [c for c in pairs.attrs.get("config_columns", []) if c != BACKEND_COLUMN]
    reference = {
        _config_of(row, config): row
        for _, row in pairs.iterrows()
        if row[BACKEND_COLUMN] == REFERENCE_BACKEND
    }
    for metric, name in _FIGURES.items():
        for layer in LAYERS:
            pairs[f"{name}_vs_tensorflow_{layer}"] = [
                _ratio(row, reference.get(_config_of(row, config)), f"{metric}_{layer}")
                for _, row in pairs.iterrows()
            ]
    return pairs


def summary_metrics(pairs):
    """Per backend other than TensorFlow, the medians of its ratios to TensorFlow over the configs.

    Returns:
        `{f"{name}_vs_tensorflow_{layer}.{backend}": median}`; `{}` when the
        sweep does not vary the backend.
    """
    if not varies_backend(pairs):
        return {}
    figures = {}
    for backend, group in pairs.groupby(BACKEND_COLUMN):
        if backend == REFERENCE_BACKEND:
            continue
        for name in _FIGURES.values():
            for layer in LAYERS:
                column = f"{name}_vs_tensorflow_{layer}"
                median = group[column].median()
                if not math.isnan(median):
                    figures[f"{column}.{backend}"] = median
    return figures


def summary_line(summary):
    """The description's line: each backend's step time and latency against TensorFlow's."""
    backends = sorted({key.rpartition(".")[2] for key in summary if "_vs_tensorflow_" in key})
    if not backends:
        return None
    parts = []
    for backend in backends:
        figures = [
            f"{words} {summary[key]:.3g}x"
            for words, key in (
                ("step time custom", f"step_time_vs_tensorflow_custom.{backend}"),
                ("stock", f"step_time_vs_tensorflow_stock.{backend}"),
                ("latency custom", f"infer_latency_vs_tensorflow_custom.{backend}"),
                ("stock", f"infer_latency_vs_tensorflow_stock.{backend}"),
            )
            if key in summary
        ]
        parts.append(f"{backend} {', '.join(figures)}")
    return (
        "Against TensorFlow, median over the configs (the jobs' own figures, from processes "
        f"that ran one after another): {'; '.join(parts)}."
    )


def _config_of(row, config):
    return tuple(str(row[column]) for column in config)


def _ratio(row, reference, column):
    if reference is None or row[BACKEND_COLUMN] == REFERENCE_BACKEND:
        return math.nan
    return row[column] / reference[column]
