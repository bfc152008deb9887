"""How a run that does not finish ends: its status and the reason."""

import time

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


def test_a_run_closed_as_lost_whose_job_finishes_ends_finished_without_the_stale_reason(
    tracking,
):
    experiment_id = mlflow.set_experiment(tracking.experiment).experiment_id
    run = mlflow.start_run(experiment_id=experiment_id)
    lifecycle.fail_run(run.info.run_id, lifecycle.LOST_REASON)  # another process's verdict
    mlflow.log_metric("test_accuracy", 0.9)  # the job was alive after all
    lifecycle.finish_active_run()
    finished = mlflow.get_run(run.info.run_id)
    assert finished.info.status == "FINISHED"
    assert lifecycle.FAILURE_TAG not in finished.data.tags
    assert finished.data.tags[lifecycle.REOPENED_TAG] == lifecycle.REOPENED_TEXT
    assert mlflow.active_run() is None


def test_finishing_a_run_that_was_never_closed_changes_nothing_else(tracking):
    experiment_id = mlflow.set_experiment(tracking.experiment).experiment_id
    run = mlflow.start_run(experiment_id=experiment_id)
    lifecycle.finish_active_run()
    finished = mlflow.get_run(run.info.run_id)
    assert finished.info.status == "FINISHED"
    assert lifecycle.REOPENED_TAG not in finished.data.tags


def test_a_run_mlflow_run_opened_for_a_project_that_never_started_is_closed_in_time(tracking):
    """`mlflow run .` that fails before the project starts (no conda, say) leaves such a run."""
    experiment_id = mlflow.set_experiment(tracking.experiment).experiment_id
    client = mlflow.MlflowClient()
    now_ms = int(time.time() * 1000)
    project = {lifecycle.PROJECT_ENTRY_POINT_TAG: "main"}
    hours_ago = now_ms - 2 * 3600 * 1000
    abandoned = client.create_run(experiment_id, start_time=hours_ago, tags=project)
    starting = client.create_run(experiment_id, start_time=now_ms, tags=project)
    taken_up = client.create_run(
        experiment_id, start_time=hours_ago, tags={**project, **lifecycle.process_tags()}
    )
    own = client.create_run(experiment_id, start_time=hours_ago)  # not `mlflow run`'s

    closed = lifecycle.close_lost_runs(experiment_id)

    assert closed == [abandoned.info.run_id]
    ended = client.get_run(abandoned.info.run_id)
    assert ended.info.status == "FAILED"
    assert ended.data.tags[lifecycle.FAILURE_TAG] == lifecycle.NEVER_STARTED_REASON
    for run in (starting, taken_up, own):
        assert client.get_run(run.info.run_id).info.status == "RUNNING"
