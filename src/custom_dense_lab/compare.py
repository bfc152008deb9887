"""`custom-dense-compare`: rebuild a sweep's comparison report from MLflow."""

from custom_dense_lab import arguments


def parser():
    parser = arguments.compare_parser()
    parser.add_argument("--full", action="store_true", help="print every figure (comparison.md)")
    return parser


arguments.answer_help(parser, __file__)  # at once, before MLflow loads

from custom_dense_lab.process.startup import quiet_start

quiet_start(import_tensorflow=False)  # reads the tracking store: no TensorFlow


import sys

import mlflow

from custom_dense_lab.errors import ConfigError, StorageFullError, SweepNotFoundError
from custom_dense_lab.process import signals
from custom_dense_lab.reports.comparison import log_report
from custom_dense_lab.sweep.parent import find_sweep
from custom_dense_lab.tracking import lifecycle, store, ui


def open_sweep(experiment, parent=None, tracking_uri=None):
    """Points MLflow at the store and returns the sweep's parent run id: `parent`, else the
    latest, once the experiment's lost runs are closed; else one line and exit 2 (1: disk full)."""
    try:
        if missing := store.missing_sqlite_file(tracking_uri):
            raise SweepNotFoundError(f"no sweep found: there is no tracking store at {missing}")
        store.use_store(tracking_uri, "--tracking-uri")
        if parent or not experiment:  # no experiment: the latest sweep of the store
            parent = find_sweep(experiment or None, parent)
            experiment_id = mlflow.get_run(parent).info.experiment_id
        elif found := mlflow.get_experiment_by_name(experiment):
            store.check_experiment(experiment, "--experiment")  # a deleted one: how to restore it
            experiment_id = found.experiment_id
        else:
            raise SweepNotFoundError(f"no sweep found in experiment {experiment!r}")
        lifecycle.close_lost_runs(experiment_id)
        parent = parent or find_sweep(experiment)
        if mlflow.get_run(parent).info.status == "RUNNING":
            raise SweepNotFoundError(f"sweep {parent} is still running: compare it once it ends")
        return parent
    except (ConfigError, SweepNotFoundError, StorageFullError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1 if isinstance(error, StorageFullError) else 2)


def main(argv=None):
    signals.exit_on_stop_signals()  # it opens no run: a stop ends it at once, in one line
    args = parser().parse_args(argv)
    parent = open_sweep(args.experiment, args.parent or None, args.tracking_uri)
    report = log_report(parent)
    run_id = mlflow.environment_variables.MLFLOW_RUN_ID.get()
    if run_id and store.project_run_problem(run_id) is None:  # `mlflow run . -e compare`'s run
        client, sweep = mlflow.MlflowClient(), mlflow.get_run(parent)
        client.update_run(run_id, name=f"comparison · {sweep.info.run_name}")
        link = f"#/experiments/{sweep.info.experiment_id}/runs/{parent}?{ui.VIEW_QUERY}"
        note = f"The comparison of sweep [{sweep.info.run_name}]({link}), rebuilt: `comparison.md`."
        for key, value in {
            "kind": "comparison",
            "compared_sweep": parent,
            ui.NOTE_TAG: note,
        }.items():
            client.set_tag(run_id, key, value)
        client.log_text(run_id, report.markdown, "comparison.md")
    print(f"Sweep {parent}\n\n{report.markdown if args.full else report.terminal}")
    if report.pairs.empty:
        print("error: the sweep has no finished custom/stock pair to compare", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
