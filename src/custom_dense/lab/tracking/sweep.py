"""Hydra callback that gives a multirun one MLflow parent run and its comparison report."""

import contextlib
import os
import pathlib
import sys
import time

import mlflow
import yaml
from hydra.experimental.callback import Callback
from mlflow.entities import RunTag
from mlflow.exceptions import MlflowException
from omegaconf import OmegaConf

from custom_dense.lab.errors import SweepNotFoundError
from custom_dense.lab.reports import comparison
from custom_dense.lab.tracking import liveness, names, run_status, store, ui

SWEEP_TAG = "custom_dense.sweep"
PARENT_RUN_ENV = "CUSTOM_DENSE_PARENT_RUN_ID"
PARENT_ID_FILE = "mlflow_parent_run_id"
# The process that launched the sweep, to tell it from the worker processes that run jobs.
LAUNCHER_PID_ENV = "CUSTOM_DENSE_SWEEP_LAUNCHER_PID"
# What an Optuna sweep leaves in its sweep folder: the best trial's params and value.
OPTUNA_RESULTS_FILE = "optimization_results.yaml"


def parent_run_id(sweep_dir):
    """The id of the sweep's parent run, as every job of the sweep can find it.

    The sweep exports it as `$CUSTOM_DENSE_PARENT_RUN_ID` to the processes it
    starts (in process, joblib, submitit_local), which is read first: it comes
    from this very sweep. Jobs on other hosts read the copy the sweep writes to
    `<sweep dir>/mlflow_parent_run_id` on the shared file system.

    Args:
        sweep_dir: The sweep folder (`hydra.sweep.dir`).

    Returns:
        The run id, or `None` outside a sweep.
    """
    if PARENT_RUN_ENV in os.environ:
        return os.environ[PARENT_RUN_ENV]
    id_file = pathlib.Path(sweep_dir) / PARENT_ID_FILE
    return id_file.read_text().strip() if id_file.is_file() else None


def in_worker_process():
    """Whether this process runs a sweep's jobs for another process (joblib, submitit, SLURM)."""
    launcher = os.environ.get(LAUNCHER_PID_ENV)
    return launcher is not None and launcher != str(os.getpid())


class MlflowSweepCallback(Callback):
    """Opens the sweep's parent run before the jobs and reports on it after them.

    The parent is the run `mlflow run` started, when there is one, else a new
    run. The tracking store, the experiment and the parent all exist before
    any job starts, so parallel jobs only add runs to them. At the end, the
    parent gets the comparison report and the best job, and is marked FAILED
    if any job failed.
    """

    def on_multirun_start(self, config, **kwargs):
        """Opens the parent run; without one, the sweep stops with exit 2 before any job.

        Hydra turns what a callback raises into a warning and goes on, so a
        parent that cannot be created is said here, in one line.
        """
        try:
            parent, experiment_id = _open_parent(config)
        except Exception as error:
            reason = f"the sweep's parent run could not be created: {type(error).__name__}: {error}"
            print(f"error: {reason}", file=sys.stderr)
            finish_sweep(abort_reason=reason)  # closes a parent created before the failure
            raise SystemExit(2) from None
        try:
            mlflow.MlflowClient().log_text(
                parent, "\n".join(config.hydra.overrides.task) + "\n", "sweep_overrides.txt"
            )
        except Exception as error:  # the jobs and the report will meet it too, and say so
            print(
                f"error: could not log the sweep's overrides on {parent}: {error}", file=sys.stderr
            )
        print(f"MLflow parent run {parent} (experiment {experiment_id})", flush=True)

    def on_multirun_end(self, config, **kwargs):
        """Closes the sweep, says where to look; ends the process with status 1 if any job failed."""
        parent = os.environ.get(PARENT_RUN_ENV)
        failed = finish_sweep(pathlib.Path(config.hydra.sweep.dir))
        if parent:
            ui.where_to_look(parent, config.mlflow.experiment_name, "this sweep")
        if failed:
            print(f"{len(failed)} job(s) failed: {'; '.join(failed)}", file=sys.stderr, flush=True)
            raise SystemExit(1)


def _open_parent(config):
    """Creates (or adopts) the sweep's parent run and tells the sweep's processes its id.

    Returns:
        `(parent run id, experiment id)`.
    """
    project_run = os.environ.pop("MLFLOW_RUN_ID", None)
    if config.mlflow.tracking_uri:
        mlflow.set_tracking_uri(config.mlflow.tracking_uri)
    experiment_id = store.open_experiment(config.mlflow.experiment_name, project_run)
    client = mlflow.MlflowClient()
    sweeper_params = config.hydra.sweeper.get("params")
    swept = names.swept_values(
        config.hydra.overrides.task,
        OmegaConf.to_container(sweeper_params) if sweeper_params else None,
    )
    if project_run:
        parent = project_run
        client.update_run(parent, name=names.sweep_name(swept))
    else:
        parent = client.create_run(experiment_id, run_name=names.sweep_name(swept)).info.run_id
    os.environ[PARENT_RUN_ENV] = parent
    os.environ[LAUNCHER_PID_ENV] = str(os.getpid())
    tags = {**liveness.process_tags(), SWEEP_TAG: "true", names.SWEPT_KEYS_TAG: ",".join(swept)}
    client.log_batch(parent, tags=[RunTag(key, value) for key, value in tags.items()])
    sweep_dir = pathlib.Path(config.hydra.sweep.dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    (sweep_dir / PARENT_ID_FILE).write_text(parent + "\n")
    return parent, experiment_id


def finish_sweep(sweep_dir=None, abort_reason=None, interrupted=None):
    """Closes the open sweep's parent run: lost jobs, report, best job, status.

    Runs still RUNNING belong to jobs whose process died: they are marked
    FAILED, or KILLED when the sweep was interrupted (after the sweep's jobs
    still running on this host were sent the same signal and given time to
    record it themselves). The parent never stays RUNNING: it ends FINISHED,
    FAILED when a job failed or the sweep stopped early, or KILLED when
    interrupted, with the comparison report over the jobs that finished. Does
    nothing when no sweep is open in this process.

    Args:
        sweep_dir: The sweep folder, where an Optuna sweep leaves its result;
            `None` when the sweep stopped early.
        abort_reason: Why the sweep stopped before all its jobs returned, or
            `None` when it ran to the end.
        interrupted: The `Interrupted` that stopped the sweep, if one did.

    Returns:
        The names of the jobs that did not finish.
    """
    parent = os.environ.pop(PARENT_RUN_ENV, None)
    os.environ.pop(LAUNCHER_PID_ENV, None)
    if parent is None:
        return []
    if interrupted is not None:
        _forward_interrupt(parent, interrupted)
    lost_status, lost_reason = (
        ("KILLED", str(interrupted)) if interrupted else ("FAILED", liveness.LOST_REASON)
    )
    problems = []
    failed_names = []
    try:
        runs = comparison.child_runs(parent)
        for run_id in runs.loc[runs["status"] == "RUNNING", "run_id"] if not runs.empty else []:
            run_status.fail_run(run_id, lost_reason, status=lost_status)
        runs = comparison.child_runs(parent)
        failed = runs[runs["status"] != "FINISHED"] if not runs.empty else runs
        failed_names = [_job_label(row) for _, row in failed.iterrows()]
        if failed_names:
            problems.append(
                f"{len(failed_names)} of {len(runs)} jobs did not finish: {'; '.join(failed_names)}"
            )
        _, markdown = comparison.log_report(parent)
        print(markdown, flush=True)
        _log_best_job(parent, runs)
        if sweep_dir is not None:
            _log_optuna_result(parent, pathlib.Path(sweep_dir) / OPTUNA_RESULTS_FILE)
        print(
            f"MLflow parent run {parent}: {len(runs) - len(failed_names)} of {len(runs)} "
            "jobs finished",
            flush=True,
        )
    except Exception as error:
        problems.append(
            f"the sweep's report could not be recorded ({type(error).__name__}: {error})"
        )
    finally:
        if abort_reason:
            problems.append(abort_reason)
        _close_parent(parent, interrupted, problems)
    return failed_names


def _close_parent(parent, interrupted, problems):
    client = mlflow.MlflowClient()
    try:
        if interrupted is not None:
            run_status.fail_run(parent, ". ".join([str(interrupted), *problems]), status="KILLED")
        elif problems:
            run_status.fail_run(parent, ". ".join(problems))
        else:
            client.set_terminated(parent)
    except Exception as error:
        print(f"error: could not close parent run {parent}: {error}", file=sys.stderr)


def _forward_interrupt(parent, interrupted, timeout_s=15.0):
    """Sends the interrupt to the sweep's jobs running in other processes of this host.

    They record it themselves (KILLED, "interrupted by ..."); waits up to
    `timeout_s` for them to do so.
    """
    runs = comparison.child_runs(parent)
    if runs.empty:
        return
    running = runs[runs["status"] == "RUNNING"]
    pids = []
    for _, run in running.iterrows():
        tags = {
            key.removeprefix("tags."): value
            for key, value in run.items()
            if key.startswith("tags.")
        }
        pid = liveness.local_process(tags)
        if pid is not None and pid != os.getpid():
            pids.append(pid)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, interrupted.signum)
    deadline = time.monotonic() + timeout_s
    while pids and time.monotonic() < deadline:
        still = comparison.child_runs(parent)
        if not (still["status"] == "RUNNING").any():
            return
        time.sleep(0.5)


def _log_best_job(parent, runs):
    """Logs the finished job with the highest final `val_accuracy` on the parent run.

    The parent gets the metric `best_val_accuracy`, the tags `best_run_id` and
    `best_overrides`, and the best job's resolved config as `best_config.yaml`.
    """
    best = comparison.best_job(runs)
    if best is None:
        return
    client = mlflow.MlflowClient()
    client.log_metric(parent, "best_val_accuracy", float(best["metrics.val_accuracy"]))
    client.set_tag(parent, "best_run_id", best["run_id"])
    client.set_tag(parent, "best_overrides", _job_label(best))
    config_text = mlflow.artifacts.load_text(f"runs:/{best['run_id']}/config.yaml")
    client.log_text(parent, config_text, "best_config.yaml")


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


def find_sweep(experiment_name, parent=None):
    """Returns a sweep's parent run id: `parent` if given, else the experiment's latest sweep.

    Raises:
        SweepNotFoundError: `parent` is not a run of the store, or not a sweep's
            parent; or the experiment holds no sweep.
    """
    if parent:
        try:
            run = mlflow.get_run(parent)
        except MlflowException:
            raise SweepNotFoundError(f"no run {parent!r} in the tracking store") from None
        if run.data.tags.get(SWEEP_TAG) != "true":
            raise SweepNotFoundError(
                f"run {parent!r} is not a sweep's parent run (it has no tag {SWEEP_TAG}=true)"
            )
        return parent
    runs = mlflow.search_runs(
        experiment_names=[experiment_name],
        filter_string=f"tags.`{SWEEP_TAG}` = 'true'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if runs.empty:
        raise SweepNotFoundError(f"no sweep found in experiment {experiment_name!r}")
    return runs.iloc[0]["run_id"]
