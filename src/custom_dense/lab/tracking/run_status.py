"""How a run ends when it does not finish: its status and the reason, in one place.

Imports MLflow only, so that a sweep's worker processes can load the sweep
callback before TensorFlow (see `custom_dense.lab.cli.startup`).
"""

import mlflow

FAILURE_TAG = "failure_reason"
# MLflow's limit on a tag's value.
_MAX_TAG_LENGTH = 5000


def tag_failure(run_id, reason):
    """Records why a run failed (or was stopped) in its `failure_reason` tag."""
    mlflow.MlflowClient().set_tag(run_id, FAILURE_TAG, reason[:_MAX_TAG_LENGTH])


def fail_run(run_id, reason, status="FAILED"):
    """Ends a run FAILED (or `status`, e.g. KILLED) with the reason as its `failure_reason` tag."""
    tag_failure(run_id, reason)
    mlflow.MlflowClient().set_terminated(run_id, status=status)
