"""A sweep's end: its lost jobs closed, its report and best job logged, its parent closed."""

import contextlib
import os
import pathlib
import sys
import time

import mlflow
import yaml

from custom_dense_lab.reports.comparison import log_report
from custom_dense_lab.reports.runs import LAYER_PARAM, best_job, child_runs
from custom_dense_lab.sweep.parent import LAUNCHER_PID_ENV, PARENT_RUN_ENV
from custom_dense_lab.tracking import lifecycle, names, registry

# What an Optuna sweep leaves in its sweep folder: the best trial's params and value.
OPTUNA_RESULTS_FILE = "optimization_results.yaml"


def finish_sweep(sweep_dir=None, abort_reason=None, interrupted=None):
    """Closes the sweep open in this process, if any; returns the jobs that did not finish.

    Runs still RUNNING end FAILED, or KILLED when `interrupted` (after their processes on this
    host got the signal). The best custom models are registered unless the sweep was
    interrupted or stopped early (`abort_reason`). The parent ends KILLED when interrupted,
    FAILED with any problem, else FINISHED.
    """
    parent = os.environ.pop(PARENT_RUN_ENV, None)
    os.environ.pop(LAUNCHER_PID_ENV, None)
    if parent is None:
        return []
    if interrupted is not None:
        _forward_interrupt(parent, interrupted)
    lost_status, lost_reason = (
        ("KILLED", str(interrupted)) if interrupted else ("FAILED", lifecycle.LOST_REASON)
    )
    problems, failed_names = [], []
    try:
        runs = child_runs(parent)
        for run_id in runs.loc[runs["status"] == "RUNNING", "run_id"] if not runs.empty else []:
            lifecycle.fail_run(run_id, lost_reason, status=lost_status)
        runs = child_runs(parent)
        _number_repeated_names(runs)
        failed = runs[runs["status"] != "FINISHED"] if not runs.empty else runs
        failed_names = [_job_label(row) for _, row in failed.iterrows()]
        if failed_names:
            problems.append(
                f"{len(failed_names)} of {len(runs)} jobs did not finish: {'; '.join(failed_names)}"
            )
        print(log_report(parent).terminal, flush=True)
        _log_best_job(parent, runs)
        if sweep_dir is not None:
            _log_optuna_result(parent, pathlib.Path(sweep_dir) / OPTUNA_RESULTS_FILE)
        print(
            f"MLflow parent run {parent}: {len(runs) - len(failed_names)} of {len(runs)} "
            "jobs finished",
            flush=True,
        )
        if interrupted is None and not abort_reason:
            problems.extend(_register_best_models(parent, runs))
    except Exception as error:
        problems.append(
            f"the sweep's report could not be recorded ({lifecycle.describe_error(error)})"
        )
    finally:
        if abort_reason:
            problems.append(abort_reason)
        _close_parent(parent, interrupted, problems)
    return failed_names


def _number_repeated_names(runs):
    """Gives jobs that share a name (a value swept twice) distinct ones, in the order they started."""
    if runs.empty:
        return
    current = runs["tags.mlflow.runName"].astype(str).tolist()
    runs["tags.mlflow.runName"] = names.numbered(current)
    for run_id, name, new in zip(runs["run_id"], current, runs["tags.mlflow.runName"], strict=True):
        if new != name:
            mlflow.MlflowClient().update_run(run_id, name=new)


def _forward_interrupt(parent, interrupted, timeout_s=15.0):
    """Sends the stop to the sweep's running jobs in other processes of this host, and waits up
    to `timeout_s` for them to record it (KILLED)."""
    runs = child_runs(parent)
    running = [] if runs.empty else runs[runs["status"] == "RUNNING"].to_dict("records")
    tags = [
        {k.removeprefix("tags."): v for k, v in run.items() if k.startswith("tags.")}
        for run in running
    ]
    pids = {lifecycle.local_process(run_tags) for run_tags in tags} - {None, os.getpid()}
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, interrupted.signum)
    deadline = time.monotonic() + timeout_s
    while (
        pids and time.monotonic() < deadline and (child_runs(parent)["status"] == "RUNNING").any()
    ):
        time.sleep(0.5)


def _close_parent(parent, interrupted, problems):
    if interrupted is not None:
        status, reason = "KILLED", ". ".join([str(interrupted), *problems])
    elif problems:
        status, reason = "FAILED", ". ".join(problems)
    else:
        status, reason = "FINISHED", None
    try:
        lifecycle.end_run(parent, status, reason)
    except Exception as error:
        print(f"error: could not close parent run {parent}: {error}", file=sys.stderr)


def _log_best_job(parent, runs):
    """Logs the best job (final `val_accuracy`) on the parent: metric, tags and config."""
    best = best_job(runs)
    if best is None:
        return
    client = mlflow.MlflowClient()
    client.log_metric(parent, "best_val_accuracy", float(best["metrics.val_accuracy"]))
    client.set_tag(parent, "best_run_id", best["run_id"])
    client.set_tag(parent, "best_overrides", _job_label(best))
    config_text = mlflow.artifacts.load_text(f"runs:/{best['run_id']}/config.yaml")
    client.log_text(parent, config_text, "best_config.yaml")


def _register_best_models(parent, runs):
    """Registers the best custom job's model of each dataset (unless `mlflow.register_model` is
    false); returns a failed registration as a problem."""
    if runs.empty or LAYER_PARAM not in runs:
        return []
    custom = runs[runs[LAYER_PARAM] == "custom"]
    try:
        for _, jobs in custom.groupby("params.dataset.name"):
            best = best_job(jobs)
            if best is None or best.get("params.mlflow.register_model") == "False":
                continue
            said = registry.register_job_model(best["run_id"], parent)
            print(said or f"nothing registered: {_job_label(best)} logged no model", flush=True)
    except Exception as error:
        return [
            f"the best custom model could not be registered ({lifecycle.describe_error(error)})"
        ]
    return []


def _job_label(row):
    """A job as messages name it: its overrides, else its run name, else its id."""
    for column in (f"tags.{names.OVERRIDES_TAG}", "tags.mlflow.runName"):
        value = row.get(column)
        if isinstance(value, str) and value:  # a run without the tag has NaN here
            return value
    return row["run_id"]


def _log_optuna_result(parent, results_file):
    """Logs an Optuna sweep's result file and its best params (`best.<key>`) on the parent."""
    if not results_file.is_file():
        return
    client = mlflow.MlflowClient()
    client.log_artifact(parent, str(results_file))
    best_params = yaml.safe_load(results_file.read_text()).get("best_params") or {}
    for key, value in best_params.items():
        client.log_param(parent, f"best.{key}", value)
