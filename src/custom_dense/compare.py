"""`python -m custom_dense.compare`: rebuild a sweep's comparison report from MLflow."""

import argparse
import sys

import mlflow

from custom_dense import report, tracking
from custom_dense.errors import ConfigError
from custom_dense.schema import MlflowConfig
from custom_dense.sweep import SWEEP_TAG


def latest_sweep(experiment_name):
    """Returns the id of the most recent sweep parent run in the experiment, or None."""
    runs = mlflow.search_runs(
        experiment_names=[experiment_name],
        filter_string=f"tags.`{SWEEP_TAG}` = 'true'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return None if runs.empty else runs.iloc[0]["run_id"]


def open_sweep(experiment, parent=None, tracking_uri=None):
    """Points MLflow at the store and returns a sweep's parent run id.

    Exits with status 2 and one line on stderr when the tracking server does
    not answer or the experiment holds no sweep.

    Args:
        experiment: The experiment to take the latest sweep of.
        parent: A parent run id, which wins over `experiment`.
        tracking_uri: The store; default `$MLFLOW_TRACKING_URI`.
    """
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    try:
        tracking.check_tracking_server(MlflowConfig(tracking_uri=tracking_uri))
    except ConfigError as error:
        _exit(str(error))
    parent = parent or latest_sweep(experiment)
    if not parent:
        _exit(f"no sweep found in experiment {experiment!r}")
    return parent


def _exit(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m custom_dense.compare",
        description="Pair a sweep's custom and stock runs, print the comparison and log "
        "comparison.csv, comparison.md and comparison.png on its parent run.",
    )
    parser.add_argument("--experiment", default="custom-dense", help="experiment name")
    parser.add_argument("--parent", default=None, help="parent run id (default: latest sweep)")
    parser.add_argument("--tracking-uri", default=None, help="default: $MLFLOW_TRACKING_URI")
    args = parser.parse_args(argv)
    parent = open_sweep(args.experiment, args.parent, args.tracking_uri)
    _, markdown = report.log_report(parent)
    print(f"Sweep {parent}\n")
    print(markdown)


if __name__ == "__main__":
    main()
