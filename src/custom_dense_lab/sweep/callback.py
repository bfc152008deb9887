"""A sweep's parent run and its end: the Hydra callback around the jobs, and the closing of the
sweep (its lost jobs closed, its report and best job logged, its parent closed)."""

import contextlib
import os
import pathlib
import signal
import sys
import time

import mlflow
import yaml
from hydra.experimental.callback import Callback

from custom_dense_lab.process import signals
from custom_dense_lab.reports.comparison import log_report
from custom_dense_lab.reports.runs import LAYER_PARAM, best_job, child_runs
from custom_dense_lab.sweep.parent import LAUNCHER_PID_ENV, PARENT_RUN_ENV, open_parent
from custom_dense_lab.tracking import lifecycle, names, registry, ui
from custom_dense_lab.tracking.lifecycle import describe_error as describe


class MlflowSweepCallback(Callback):
    """Opens the sweep's parent run before any job starts; closes it, with the report, after."""

    def on_multirun_start(self, config, **kwargs):
        """Without a parent run the sweep stops: one line, exit 2 (Hydra would only warn)."""
        try:
            parent, experiment_id = open_parent(config)
        except Exception as error:
            reason = "the sweep's parent run could not be created: " + describe(error)
            print(f"error: {reason}", file=sys.stderr)
            finish_sweep(abort_reason=reason)  # closes a parent created before the failure
            raise SystemExit(2) from None
        print(f"MLflow parent run {parent} (experiment {experiment_id})", flush=True)

    def on_multirun_end(self, config, **kwargs):
        """Closes the sweep and says where to look; exits 1 where a job failed."""
        if sys.exc_info()[1] is not None:  # the sweep stopped: the program closes it
            return
        parent = os.environ[PARENT_RUN_ENV]
        with signals.stops_deferred():  # the jobs are done: the parent closes whole
            failed = finish_sweep(pathlib.Path(config.hydra.sweep.dir))
        after = "after the sweep had ended: its runs keep the states they ended in"
        signals.exit_on_stop_signals(after)
        if (stop := signals.stop_requested()) is not None:  # one noted while the sweep closed
            signal.raise_signal(stop.signum)
        ui.where_to_look(parent, config.mlflow.experiment_name, "this sweep")
        if failed:
            print(f"{len(failed)} job(s) failed: {'; '.join(failed)}", file=sys.stderr, flush=True)
            raise SystemExit(1)
        if (run := mlflow.get_run(parent)).info.status != "FINISHED":  # its report, say
            reason = run.data.tags.get(lifecycle.FAILURE_TAG, "see its run")
            print(f"error: the sweep's parent run {parent} failed: {reason}", file=sys.stderr)
            raise SystemExit(1)


def finish_sweep(sweep_dir=None, abort_reason=None, interrupted=None):
    """Closes the sweep open in this process, if any; returns the jobs that did not finish.
    RUNNING jobs end FAILED, or KILLED when `interrupted` (after their processes on this host got
    the signal); the parent KILLED, FAILED with any problem, else FINISHED."""
    parent = os.environ.pop(PARENT_RUN_ENV, None)
    os.environ.pop(LAUNCHER_PID_ENV, None)
    if parent is None:
        return []
    client, problems, failed = mlflow.MlflowClient(), [], []
    try:
        if interrupted is not None:  # its jobs in other processes of this host: 15 s to record it
            runs = child_runs(parent).rename(columns=lambda column: column.removeprefix("tags."))
            running = runs.query("status == 'RUNNING'").to_dict("records")
            pids = {lifecycle.local_process(run) for run in running} - {None, os.getpid()}
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, interrupted.signum)
            end = time.monotonic() + 15
            while pids and time.monotonic() < end and "RUNNING" in set(child_runs(parent).status):
                time.sleep(0.5)
        lost = (str(interrupted), "KILLED") if interrupted else (lifecycle.LOST_REASON,)
        for run_id in child_runs(parent).query("status == 'RUNNING'").run_id:
            lifecycle.fail_run(run_id, *lost)
        runs = child_runs(parent)
        if not runs.empty:  # jobs that share a name (a value swept twice) get distinct ones
            was = runs["tags.mlflow.runName"].astype(str)
            runs["tags.mlflow.runName"] = names.numbered(was.tolist())
            for _, run in runs[runs["tags.mlflow.runName"] != was].iterrows():
                client.update_run(run.run_id, name=run["tags.mlflow.runName"])
        failed = [_job_label(row) for _, row in runs.query("status != 'FINISHED'").iterrows()]
        if failed:
            problems.append(
                f"{len(failed)} of {len(runs)} jobs did not finish: {'; '.join(failed)}"
            )
        print(log_report(parent).terminal, flush=True)
        if (best := best_job(runs)) is not None:
            client.log_metric(parent, "best_val_accuracy", float(best["metrics.val_accuracy"]))
            client.set_tag(parent, "best_run_id", best["run_id"])
            client.set_tag(parent, "best_overrides", _job_label(best))
            config_text = mlflow.artifacts.load_text(f"runs:/{best['run_id']}/config.yaml")
            client.log_text(parent, config_text, "best_config.yaml")
        # What an Optuna sweep leaves in its folder: its best trial's params and value.
        results = sweep_dir and pathlib.Path(sweep_dir, "optimization_results.yaml")
        if results and results.is_file():
            client.log_artifact(parent, str(results))
            best_params = yaml.safe_load(results.read_text()).get("best_params") or {}
            for key, value in best_params.items():
                client.log_param(parent, f"best.{key}", value)
        print(f"MLflow parent run {parent}: {len(runs) - len(failed)} of {len(runs)} jobs finished")
        if interrupted is None and not abort_reason and LAYER_PARAM in runs:
            try:  # each dataset's best custom job's model, unless `mlflow.register_model=false`
                for _, jobs in runs[runs[LAYER_PARAM] == "custom"].groupby("params.dataset.name"):
                    best = best_job(jobs)
                    if best is not None and best.get("params.mlflow.register_model") != "False":
                        said = registry.register_job_model(best["run_id"], parent)
                        print(said or f"nothing registered: {_job_label(best)} logged no model")
            except Exception as error:
                why = describe(error)
                problems.append(f"the best custom model could not be registered ({why})")
    except Exception as error:
        problems.append(f"the sweep's report could not be recorded ({describe(error)})")
    finally:
        problems += [abort_reason] if abort_reason else []
        status = "KILLED" if interrupted else "FAILED" if problems else "FINISHED"
        reason = ". ".join([str(interrupted), *problems] if interrupted else problems) or None
        try:
            lifecycle.end_run(parent, status, reason)
        except Exception as error:
            print(f"error: could not close parent run {parent}: {error}", file=sys.stderr)
    return failed


def _job_label(row):
    """A job as messages name it: its overrides, else its run name, else its id."""
    labels = (row.get(f"tags.{names.OVERRIDES_TAG}"), row.get("tags.mlflow.runName"), row.run_id)
    return next(label for label in labels if isinstance(label, str) and label)  # NaN: no tag
