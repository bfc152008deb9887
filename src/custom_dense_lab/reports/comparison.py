"""A sweep's comparison, built from its runs and logged on its parent run."""

import time
from collections import namedtuple

import mlflow
from mlflow.entities import Metric

from custom_dense_lab.reports import figures, paired, runs, text
from custom_dense_lab.tracking import ui

TABLE_JSON = "comparison_table.json"
COMPARISON_PNG = "comparison.png"
CURVES_PNG = "learning_curves.png"
# The pairs' DataFrame (empty where nothing pairs), the terminal's summary, comparison.md.
Report = namedtuple("Report", "pairs terminal markdown")


def log_report(parent_run_id):
    """Compares a sweep's custom and stock jobs and logs the comparison on its parent run
    (docs/runs.md): the files, the summary metrics, the verdict as its description."""
    jobs = runs.child_runs(parent_run_id)
    document = paired.load_document(parent_run_id)
    timings = paired.by_pair(document)
    pairs = paired.add_figures(runs.pair_runs(jobs), timings)
    client, metrics, csv = mlflow.MlflowClient(), {}, ""
    if not pairs.empty:
        pairs.insert(0, "pair", runs.pair_labels(pairs))
        histories = runs.epoch_histories(pairs)
        paired.add_noise(pairs, timings, histories)
        metrics = paired.summary_metrics(pairs, timings)
        table = text.full_table(pairs)
        csv = table.to_csv(index=False)
        if TABLE_JSON in {a.path for a in client.list_artifacts(parent_run_id)}:
            # `log_table` appends to a table logged before: a rebuilt report writes over it.
            client.log_text(parent_run_id, table.to_json(orient="split", index=False), TABLE_JSON)
        else:
            client.log_table(parent_run_id, table, TABLE_JSON)
        comparison = figures.comparison_figure(pairs, histories)
        client.log_figure(parent_run_id, comparison, COMPARISON_PNG)
        curves = figures.learning_curves_figure(list(pairs["pair"]), histories)
        client.log_figure(parent_run_id, curves, CURVES_PNG)
        now = int(time.time() * 1000)
        client.log_batch(parent_run_id, [Metric(k, v, now, 0) for k, v in metrics.items()])
    markdown = text.markdown(pairs, metrics, document)
    client.log_text(parent_run_id, csv, "comparison.csv")
    client.log_text(parent_run_id, markdown, "comparison.md")
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    note = text.note(pairs, metrics, document, runs.best_job(jobs), experiment_id)
    client.set_tag(parent_run_id, ui.NOTE_TAG, note)
    return Report(pairs, text.terminal(pairs, metrics, document), markdown)
