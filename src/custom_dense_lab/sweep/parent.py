"""A sweep's parent run: created (or adopted) before the jobs, found by every job."""

import os
import pathlib

import mlflow
from mlflow.entities import RunTag
from mlflow.exceptions import MlflowException
from omegaconf import OmegaConf

from custom_dense_lab.errors import SweepNotFoundError
from custom_dense_lab.tracking import lifecycle, names, store

SWEEP_TAG = "custom_dense.sweep"
PARENT_RUN_ENV = "CUSTOM_DENSE_PARENT_RUN_ID"
PARENT_ID_FILE = "mlflow_parent_run_id"
# The process that launched the sweep, to tell it from the worker processes that run jobs.
LAUNCHER_PID_ENV = "CUSTOM_DENSE_SWEEP_LAUNCHER_PID"


def parent_run_id(sweep_dir):
    """The sweep's parent run id: from the launcher's environment, else from the sweep folder's
    file (a SLURM job on another host); `None` outside a sweep."""
    if PARENT_RUN_ENV in os.environ:
        return os.environ[PARENT_RUN_ENV]
    id_file = pathlib.Path(sweep_dir) / PARENT_ID_FILE
    return id_file.read_text().strip() if id_file.is_file() else None


def launcher_pid():
    """The process id of the sweep's launching process, or `None` outside a sweep."""
    launcher = os.environ.get(LAUNCHER_PID_ENV)
    return None if launcher is None else int(launcher)


def in_worker_process():
    """Whether this process runs a sweep's jobs for another process (joblib, submitit, SLURM)."""
    launcher = launcher_pid()
    return launcher is not None and launcher != os.getpid()


def open_parent(config):
    """Creates (or adopts `mlflow run`'s) the sweep's parent run and passes its id on; returns
    `(run id, experiment id)`. The sweep's folder comes first: without it nothing is recorded."""
    sweep_dir = pathlib.Path(config.hydra.sweep.dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
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
    tags = {**lifecycle.process_tags(), SWEEP_TAG: "true", names.SWEPT_KEYS_TAG: ",".join(swept)}
    client.log_batch(parent, tags=[RunTag(key, value) for key, value in tags.items()])
    (sweep_dir / PARENT_ID_FILE).write_text(parent + "\n")
    return parent, experiment_id


def find_sweep(experiment_name, parent=None):
    """`parent` where it is a sweep's parent run, else the latest sweep of the experiment (of
    the store, with none); `SweepNotFoundError` where there is no such sweep."""
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
    where = {"experiment_names": [experiment_name]} if experiment_name else {}
    runs = mlflow.search_runs(
        **where,
        search_all_experiments=not experiment_name,
        filter_string=f"tags.`{SWEEP_TAG}` = 'true'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if runs.empty:
        place = f"experiment {experiment_name!r}" if experiment_name else "this tracking store"
        raise SweepNotFoundError(f"no sweep found in {place}")
    return runs.iloc[0]["run_id"]
