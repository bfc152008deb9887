"""Where users look: the experiment's kind and description in the MLflow UI, and links into its
model-training view (`?workflowType=machine_learning`), not its GenAI one."""

import pathlib
import sys
import urllib.parse

import mlflow

from custom_dense_lab.tracking import disk

EXPERIMENT_KIND_TAG, NOTE_TAG = "mlflow.experimentKind", "mlflow.note.content"
LOCAL_UI, VIEW_QUERY = "http://127.0.0.1:5000", "workflowType=machine_learning"

EXPERIMENT_DESCRIPTION = """\
CustomDense (a Dense layer written from scratch) against keras.layers.Dense: the same MLP, \
data and initial weights, trained once with each.

**What it holds.** Each sweep is a parent run named after what it varies; expand it to see its \
jobs, named by their values of the swept keys (`custom u128`) and tagged `sweep.<key>`.

**How to read the comparison.** A sweep's parent run: its description gives the verdict (the \
pairs, the largest test-accuracy gap, the median step-time ratio custom / stock with its 95% \
interval, the best job); its artifacts hold `comparison.png`, `learning_curves.png` and \
`comparison_table.json`. The Models page lists every job's model with its final metrics.

**How to reproduce.** `custom-dense-train -m layer=custom,stock model.units=32,128` (or \
`mlflow run . --experiment-name custom-dense`) in a checkout of the project; every job logs \
its `config.yaml` and `overrides.yaml`, and the parent its `sweep_overrides.txt`.
"""


def describe_experiment(experiment_id):
    """Gives the experiment its kind and description where it has none; keeps a user's own."""
    tags = {EXPERIMENT_KIND_TAG: "custom_model_development", NOTE_TAG: EXPERIMENT_DESCRIPTION}
    for key in tags.keys() - mlflow.get_experiment(experiment_id).tags.keys():
        mlflow.MlflowClient().set_experiment_tag(experiment_id, key, tags[key])


def experiment_url(tracking_uri, experiment_id):
    server = urllib.parse.urlsplit(tracking_uri).scheme in ("http", "https")
    address = tracking_uri.rstrip("/") if server else LOCAL_UI
    return f"{address}/#/experiments/{experiment_id}?{VIEW_QUERY}"


def run_url(tracking_uri, experiment_id, run_id):
    return experiment_url(tracking_uri, f"{experiment_id}/runs/{run_id}")


def ui_command(tracking_uri):
    """How to start a UI over a store that is not a server; `None` for a server."""
    if urllib.parse.urlsplit(tracking_uri).scheme in ("http", "https"):
        return None
    database = disk.sqlite_path(tracking_uri)
    if database == pathlib.Path("mlflow.db").resolve():
        return "`custom-dense-ui` here"
    uri = f"sqlite:///{database}" if database else tracking_uri
    return f"`custom-dense-ui --tracking-uri {uri}`"


def where_to_look(run_id, configured_experiment, what="this run"):
    """Prints the links to the run's experiment and to the run, how to start the UI, and a
    warning where `mlflow run` without `--experiment-name` put it in `Default`."""
    uri, experiment_id = mlflow.get_tracking_uri(), mlflow.get_run(run_id).info.experiment_id
    name = mlflow.get_experiment(experiment_id).name
    print(f"Experiment '{name}': {experiment_url(uri, experiment_id)}", flush=True)
    print(f"  {what}: {run_url(uri, experiment_id, run_id)}", flush=True)
    if command := ui_command(uri):
        print(f"  start the UI with {command}, then open a link", flush=True)
    if name == "Default" != configured_experiment:  # stderr: line-buffered
        print(
            f"warning: these runs are in MLflow's '{name}' experiment, not "
            f"'{configured_experiment}': `mlflow run` without --experiment-name puts them there. "
            f"Use `mlflow run . --experiment-name {configured_experiment}` (as `make run` does) "
            "to keep them with the project's other runs.",
            file=sys.stderr,
        )
