"""The Hydra callback that gives a multirun one MLflow parent run and its report."""

import os
import pathlib
import sys

import mlflow
from hydra.experimental.callback import Callback

from custom_dense_lab.process import signals
from custom_dense_lab.sweep.finish import finish_sweep
from custom_dense_lab.sweep.parent import PARENT_RUN_ENV, open_parent
from custom_dense_lab.tracking import lifecycle, ui


class MlflowSweepCallback(Callback):
    """Opens the sweep's parent run before any job starts; closes it, with the report, after."""

    def on_multirun_start(self, config, **kwargs):
        """Without a parent run the sweep stops: one line, exit 2 (Hydra would only warn)."""
        try:
            parent, experiment_id = open_parent(config)
        except Exception as error:
            reason = (
                f"the sweep's parent run could not be created: {lifecycle.describe_error(error)}"
            )
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
        """Closes the sweep and says where to look; exits 1 where a job failed."""
        if sys.exc_info()[1] is not None:  # Hydra calls this as the sweep stops: the program
            return  # closes the sweep with what stopped it
        parent = os.environ.get(PARENT_RUN_ENV)
        with signals.stops_deferred():  # the jobs are done: the parent closes whole
            failed = finish_sweep(pathlib.Path(config.hydra.sweep.dir))
        after = "after the sweep had ended: its runs keep the states they ended in"
        signals.exit_if_stopped(after)
        signals.exit_on_stop_signals(after)
        if parent:
            ui.where_to_look(parent, config.mlflow.experiment_name, "this sweep")
        if failed:
            print(f"{len(failed)} job(s) failed: {'; '.join(failed)}", file=sys.stderr, flush=True)
            raise SystemExit(1)
        if parent and mlflow.get_run(parent).info.status != "FINISHED":  # its report, say
            reason = mlflow.get_run(parent).data.tags.get(lifecycle.FAILURE_TAG, "see its run")
            print(f"error: the sweep's parent run {parent} failed: {reason}", file=sys.stderr)
            raise SystemExit(1)
