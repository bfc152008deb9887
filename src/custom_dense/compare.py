"""`python -m custom_dense.compare`: rebuild a sweep's comparison report from MLflow."""

import argparse
import sys

import mlflow

from custom_dense import report
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
    if args.tracking_uri:
        mlflow.set_tracking_uri(args.tracking_uri)
    parent = args.parent or latest_sweep(args.experiment)
    if not parent:
        print(f"error: no sweep found in experiment {args.experiment!r}", file=sys.stderr)
        sys.exit(2)
    _, markdown = report.log_report(parent)
    print(f"Sweep {parent}\n")
    print(markdown)


if __name__ == "__main__":
    main()
