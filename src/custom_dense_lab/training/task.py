"""Hydra's task function of `custom-dense-train` (importing it loads TensorFlow)."""

from custom_dense_lab.process.startup import quiet_start
from custom_dense_lab.sweep import parent

parent.watch_launcher()  # a sweep's worker: from its start, before TensorFlow loads
quiet_start()


import contextlib
import sys

import hydra
import mlflow
import tensorflow_datasets as tfds
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from custom_dense_lab.config import CONFIG_DIR
from custom_dense_lab.errors import Interrupted, JobInterruptedError, StorageFullError
from custom_dense_lab.process import backends, signals
from custom_dense_lab.tracking import disk, lifecycle, names, records
from custom_dense_lab.training.job import run_job
from custom_dense_lab.training.models import TRUSTED_TARGETS

AFTER_THE_JOB = "after the job had finished: its run stays FINISHED"

tfds.disable_progress_bar()


def run_task(cfg):
    """One job's validation accuracy for Hydra's sweepers: `None` failed, alone exit 1."""
    signals.raise_on_stop_signals()  # again: in a sweep's worker process, this is the entry point
    hydra_cfg = HydraConfig.get()
    overrides = list(hydra_cfg.overrides.task)
    in_sweep = hydra_cfg.mode == RunMode.MULTIRUN
    parent_run = parent.parent_run_id(hydra_cfg.sweep.dir) if in_sweep else None
    parent.watch_launcher()  # and at the start of every job
    try:
        disk.check_free_space()
        args = (cfg, overrides, in_sweep, parent_run)
        metrics = backends.run_in_backend(cfg.backend.value, run_job, *args)
    except Interrupted as stop:
        if parent.in_worker_process():  # the launcher records an Exception, not a BaseException
            raise JobInterruptedError(str(stop)) from None
        raise
    except (StorageFullError, Exception) as error:
        lost = isinstance(error, backends.BackendWorkerError)  # its run, if any, closed as lost
        full = error if isinstance(error, StorageFullError) else disk.storage_failure(error)
        if not lost and (full is None or not parent.in_worker_process()):
            if full in (None, error):
                raise
            raise full from None
        # The launcher counts the job as failed, and this worker takes the next one, if any.
        print(f"error: {full or error}", file=sys.stderr, flush=True)
        if lost and in_sweep:  # a FAILED run for a job whose run never existed: the sweep counts it
            experiment_id = mlflow.get_run(parent_run).info.experiment_id
            found = f"tags.mlflow.parentRunId = '{parent_run}'"
            siblings = mlflow.search_runs([experiment_id], found, output_format="list")
            if all(r.data.tags.get(names.OVERRIDES_TAG) != " ".join(overrides) for r in siblings):
                run_name, tags = records.job_identity(cfg, overrides, parent_run)
                tags |= {"mlflow.parentRunId": parent_run}
                run = mlflow.MlflowClient().create_run(experiment_id, run_name=run_name, tags=tags)
                lifecycle.fail_run(run.info.run_id, str(error))
        metrics = None
    if not in_sweep:
        if metrics is None:
            raise SystemExit(1)
        signals.exit_on_stop_signals(AFTER_THE_JOB)
    return metrics and metrics["val_accuracy"]


hydra_app = hydra.main(
    config_path=str(CONFIG_DIR), config_name="config", execution_whitelist=TRUSTED_TARGETS
)(run_task)


def state_of_finished_job():
    """`" after the job had finished..."` where this process's single job ended FINISHED."""
    with contextlib.suppress(Exception):  # the store may be what stopped the job
        run = mlflow.last_active_run()
        if "mlflow.parentRunId" not in run.data.tags and run.info.status == "FINISHED":
            return f" {AFTER_THE_JOB}"
    return ""
