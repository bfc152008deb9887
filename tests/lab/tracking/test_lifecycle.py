"""How a run that does not finish ends: its status and the reason."""

import mlflow

from custom_dense_lab.tracking import lifecycle


def test_fail_run_records_the_reason_cut_to_mlflow_s_tag_size(tracking):
    with mlflow.start_run(
        experiment_id=mlflow.set_experiment(tracking.experiment).experiment_id
    ) as run:
        pass
    lifecycle.fail_run(run.info.run_id, "x" * 6000)
    failed = mlflow.get_run(run.info.run_id)
    assert failed.info.status == "FAILED"
    assert failed.data.tags[lifecycle.FAILURE_TAG] == "x" * 5000


def test_a_stopped_run_ends_with_the_status_given(tracking):
    with mlflow.start_run(
        experiment_id=mlflow.set_experiment(tracking.experiment).experiment_id
    ) as run:
        pass
    lifecycle.fail_run(run.info.run_id, "interrupted by SIGTERM", status="KILLED")
    killed = mlflow.get_run(run.info.run_id)
    assert killed.info.status == "KILLED"
    assert killed.data.tags[lifecycle.FAILURE_TAG] == "interrupted by SIGTERM"
