"""`hydra/launcher=ray`: hydra-ray-launcher's launcher, accounting for every job.

Its own `launch` waits on the jobs in order and raises at the first one whose
Ray worker died, while the others still run. This one runs each job as a Ray
task and waits for all: a job whose worker died (killed, out of memory, a lost
node) ends its run FAILED with Ray's reason and counts as a failed job.
"""

import logging
import os
import socket
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides, run_job, setup_globals
from hydra.errors import CompactHydraException
from hydra_plugins.hydra_ray_launcher import ray_launcher
from omegaconf import OmegaConf, open_dict

log = logging.getLogger(__name__)
_TOKEN_HINT = (
    "; the cluster asks for token authentication: set RAY_AUTH_MODE=token, with its token in "
    "~/.ray/auth_token or RAY_AUTH_TOKEN"
)


class ClusterError(CompactHydraException):
    """Ray could not reach or start its cluster (Hydra's one-line errors: the program prints it)."""


class RayLauncher(ray_launcher.RayLauncher):
    """Runs a sweep's jobs as Ray tasks; returns once every job has ended.

    Takes hydra-ray-launcher's keys: `ray.init` (`ray.init`'s arguments, `address`
    among them) and `ray.remote` (each task's options: `num_cpus`, `num_gpus`,
    `memory`, `max_retries`).
    """

    def launch(self, job_overrides, initial_job_idx):
        """Returns one `JobReturn` per job; a job whose worker died returns `None`, as a failed job does."""
        import ray

        from custom_dense_lab.sweep.parent import parent_run_id
        from custom_dense_lab.tracking.lifecycle import LAUNCHER_JOB_ENV

        setup_globals()
        if not ray.is_initialized():
            try:
                ray.init(**OmegaConf.to_container(self.ray_cfg.init, resolve=True))
            except (ConnectionError, RuntimeError, ray.exceptions.RayError) as error:
                hint = _TOKEN_HINT if "InvalidAuthToken" in str(error.__cause__) else ""
                raise ClusterError(f"Ray: {_first_line(error)}{hint}") from None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        parent = parent_run_id(str(sweep_dir))
        remote = OmegaConf.to_container(self.ray_cfg.remote, resolve=True)
        remote_job = ray.remote(job).options(**remote)
        context = _launcher_context()
        numbers = range(initial_job_idx, initial_job_idx + len(job_overrides))
        job_ids = [f"ray-{parent}-{number}" for number in numbers]
        launched = []
        for number, job_id, overrides in zip(numbers, job_ids, job_overrides, strict=True):
            log.info(f"\t#{number} : {' '.join(filter_overrides(overrides))}")
            sweep_config = self.hydra_context.config_loader.load_sweep_config(
                self.config, list(overrides)
            )
            with open_dict(sweep_config):
                sweep_config.hydra.job.id = job_id
                sweep_config.hydra.job.num = number
            job_context = {
                **context,
                "environment": {**context["environment"], LAUNCHER_JOB_ENV: job_id},
            }
            launched.append(
                remote_job.remote(
                    self.hydra_context,
                    sweep_config,
                    self.task_function,
                    Singleton.get_state(),
                    job_context,
                )
            )
        return [
            _outcome(ray, task, overrides, job_id, parent)
            for task, overrides, job_id in zip(launched, job_overrides, job_ids, strict=True)
        ]


def _launcher_context():
    """What a job needs of the launching process: its folder, its host, and the variables that
    name the sweep (its parent run, folder and launcher) and the tracking store."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name.startswith("CUSTOM_DENSE_") or name == "MLFLOW_TRACKING_URI"
    }
    return {"cwd": os.getcwd(), "host": socket.gethostname(), "environment": environment}


def job(hydra_context, sweep_config, task_function, singleton_state, launcher):
    """One job in a Ray worker, set up as a local worker process of the launcher would be.

    On the launcher's host it runs in the launcher's folder and watches the
    launcher's process; elsewhere Ray ends it when the launcher is gone.
    """
    from custom_dense_lab.sweep.parent import LAUNCHER_PID_ENV

    environment = dict(launcher["environment"])
    if launcher["host"] != socket.gethostname():
        environment.pop(LAUNCHER_PID_ENV, None)
        os.environ.pop(LAUNCHER_PID_ENV, None)
    os.environ.update(environment)
    if os.path.isdir(launcher["cwd"]):
        os.chdir(launcher["cwd"])
    setup_globals()
    Singleton.set_state(singleton_state)
    HydraConfig.instance().set_config(sweep_config)
    return run_job(
        hydra_context=hydra_context,
        task_function=task_function,
        config=sweep_config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )


def _outcome(ray, task, overrides, job_id, parent):
    """The job's `JobReturn`; for a job whose Ray task failed, its runs ended FAILED with the reason."""
    try:
        return ray.get(task)
    except ray.exceptions.RayError as error:
        from custom_dense_lab.launch import requeue

        label = " ".join(filter_overrides(overrides))
        reason = f"its Ray worker failed: {_first_line(error)}"
        if parent:
            requeue.end_job_runs(parent, job_id, overrides, reason, run_name=label)
        print(f"FAILED [{label}] {reason}", flush=True)
        ended = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
        ended.return_value = None
        return ended


def _first_line(error):
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
