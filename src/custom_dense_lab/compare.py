"""`custom-dense-compare`: rebuild a sweep's comparison report from MLflow."""

from custom_dense_lab import arguments

arguments.answer_help(arguments.compare_parser, __file__)  # at once, before MLflow loads

from custom_dense_lab.process.startup import quiet_start

quiet_start(import_tensorflow=False)  # reads the tracking store: no TensorFlow


import sys

import mlflow

from custom_dense_lab.errors import ConfigError, StorageFullError, SweepNotFoundError
from custom_dense_lab.process import signals
from custom_dense_lab.reports import comparison
from custom_dense_lab.sweep.parent import find_sweep
from custom_dense_lab.tracking import lifecycle, store, ui

COMPARISON_KIND_TAG = "kind"
COMPARED_SWEEP_TAG = "compared_sweep"


def open_sweep(experiment, parent=None, tracking_uri=None):
    """Points MLflow at the store and returns a sweep's parent run id.

    Exits with status 2 and one line on stderr when there is no store yet (none
    is created), the store cannot be used, `parent` is not a sweep's parent
    run, or the experiment holds no sweep. Runs of the experiment whose process
    is gone are closed first, whatever is found after.

    Args:
        experiment: The experiment to take the latest sweep of.
        parent: A parent run id, which wins over `experiment`.
        tracking_uri: The store; default `$MLFLOW_TRACKING_URI`.
    """
    try:
        missing = store.missing_sqlite_file(tracking_uri)
        if missing:
            raise SweepNotFoundError(f"no sweep found: there is no tracking store at {missing}")
        store.use_store(tracking_uri)
        if parent:
            parent = find_sweep(experiment, parent)
            lifecycle.close_lost_runs(mlflow.get_run(parent).info.experiment_id)
            return parent
        found = mlflow.get_experiment_by_name(experiment)
        if found is None:
            raise SweepNotFoundError(f"no sweep found in experiment {experiment!r}")
        store.check_experiment(experiment, "--experiment")  # a deleted one: how to restore it
        lifecycle.close_lost_runs(found.experiment_id)
        return find_sweep(experiment)
    except (ConfigError, SweepNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except StorageFullError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


def record_on_project_run(parent, markdown):
    """Under `mlflow run . -e compare`, makes the run that `mlflow run` opened the report's record.

    The report itself is logged on the sweep's parent; the project's run gets
    a name and tags that say which sweep it compared, and the report's text,
    instead of staying empty. Does nothing outside `mlflow run`.

    Args:
        parent: The sweep's parent run id.
        markdown: The report, as `comparison.log_report` returned it.
    """
    run_id = mlflow.environment_variables.MLFLOW_RUN_ID.get()
    if not run_id or store.project_run_problem(run_id) is not None:
        return
    client = mlflow.MlflowClient()
    sweep = client.get_run(parent)
    client.update_run(run_id, name=f"comparison · {sweep.info.run_name}")
    client.set_tag(run_id, COMPARISON_KIND_TAG, "comparison")
    client.set_tag(run_id, COMPARED_SWEEP_TAG, parent)
    link = f"#/experiments/{sweep.info.experiment_id}/runs/{parent}?{ui.VIEW_QUERY}"
    note = f"The comparison of sweep [{sweep.info.run_name}]({link}), rebuilt: `comparison.md`."
    client.set_tag(run_id, ui.NOTE_TAG, note)
    client.log_text(run_id, markdown, "comparison.md")


def main(argv=None):
    signals.exit_on_stop_signals()  # it opens no run: a stop ends it at once, in one line
    args = arguments.compare_parser().parse_args(sys.argv[1:] if argv is None else argv)
    parent = open_sweep(args.experiment, args.parent or None, args.tracking_uri)
    pairs, markdown = comparison.log_report(parent)
    record_on_project_run(parent, markdown)
    print(f"Sweep {parent}\n")
    print(markdown)
    if pairs.empty:
        print("error: the sweep has no finished custom/stock pair to compare", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
