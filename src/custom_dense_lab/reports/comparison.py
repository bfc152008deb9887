"""A sweep's comparison, built from its runs and logged on its parent run."""

import time
from typing import NamedTuple

import mlflow
from mlflow.entities import Metric

from custom_dense_lab.reports import figures, paired, summary, text
from custom_dense_lab.reports.runs import (
    best_job,
    child_runs,
    epoch_histories,
    pair_labels,
    pair_runs,
)
from custom_dense_lab.tracking import ui

TABLE_JSON = "comparison_table.json"
COMPARISON_PNG = "comparison.png"
CURVES_PNG = "learning_curves.png"


class Report(NamedTuple):
    pairs: object  # the pairs' DataFrame, empty where nothing pairs
    terminal: str  # the verdict and a short table, within 100 columns
    markdown: str  # comparison.md: the verdict and every figure of every pair


def log_report(parent_run_id):
    """Compares a sweep's custom and stock jobs and logs the comparison on its parent run.

    Logs `comparison.csv`, `comparison.md`, the table `comparison_table.json`,
    `comparison.png`, `learning_curves.png`, the summary metrics and the
    verdict as the parent's description. Returns a `Report`.
    """
    runs = child_runs(parent_run_id)
    document = paired.load_document(parent_run_id)
    timings = paired.by_pair(document)
    pairs = summary.add_figures(pair_runs(runs), timings)
    client = mlflow.MlflowClient()
    if pairs.empty:
        metrics, csv = {}, ""
    else:
        pairs.insert(0, "pair", pair_labels(pairs))
        histories = epoch_histories(pairs)
        summary.add_noise(pairs, timings, histories)
        metrics = summary.summary_metrics(pairs, timings)
        csv = text.full_table(pairs).to_csv(index=False)
        _log_table(client, parent_run_id, text.full_table(pairs))
        client.log_figure(
            parent_run_id, figures.comparison_figure(pairs, histories), COMPARISON_PNG
        )
        curves = figures.learning_curves_figure(list(pairs["pair"]), histories)
        client.log_figure(parent_run_id, curves, CURVES_PNG)
        now = int(time.time() * 1000)
        client.log_batch(parent_run_id, [Metric(k, v, now, 0) for k, v in metrics.items()])
    markdown = text.markdown(pairs, metrics, document)
    client.log_text(parent_run_id, csv, "comparison.csv")
    client.log_text(parent_run_id, markdown, "comparison.md")
    experiment_id = mlflow.get_run(parent_run_id).info.experiment_id
    note = text.note(pairs, metrics, document, best_job(runs), experiment_id)
    client.set_tag(parent_run_id, ui.NOTE_TAG, note)
    return Report(pairs, text.terminal(pairs, metrics, document), markdown)


def _log_table(client, run_id, table):
    """Logs the pairs with `log_table`, which the UI shows as a table, or rewrites the one logged.

    `log_table` appends to a table the run has: a rebuilt report writes over it.
    """
    if TABLE_JSON in {artifact.path for artifact in client.list_artifacts(run_id)}:
        client.log_text(run_id, table.to_json(orient="split", index=False), TABLE_JSON)
    else:
        client.log_table(run_id, table, TABLE_JSON)
