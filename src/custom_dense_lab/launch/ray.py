"""`hydra/launcher=ray`: hydra-ray-launcher's launcher (its keys `ray.init` and `ray.remote`),
running each job as a Ray task and waiting for every job (docs/scaling-out.md)."""

import logging
import os
import socket
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import filter_overrides, run_job, setup_globals
from hydra.errors import CompactHydraException
from hydra_plugins.hydra_ray_launcher import ray_launcher
from omegaconf import OmegaConf, open_dict

log = logging.getLogger(__name__)
_TOKEN_HINT = (
    "; the cluster asks for token authentication: set RAY_AUTH_MODE=token, with its token in "
    "~/.ray/auth_token or RAY_AUTH_TOKEN"
)


class RayLauncher(ray_launcher.RayLauncher):
    def launch(self, job_overrides, initial_job_idx):
        """One `JobReturn` per job once all have ended; a job whose worker died returns `None`."""
        import ray

        from custom_dense_lab.launch import requeue
        from custom_dense_lab.sweep.parent import parent_run_id
        from custom_dense_lab.tracking.lifecycle import LAUNCHER_JOB_ENV

        setup_globals()
        if not ray.is_initialized():
            try:
                ray.init(**OmegaConf.to_container(self.ray_cfg.init, resolve=True))
            except (ConnectionError, RuntimeError, ray.exceptions.RayError) as error:
                hint = _TOKEN_HINT if "InvalidAuthToken" in str(error.__cause__) else ""
                raise CompactHydraException(f"Ray: {_first_line(error)}{hint}") from None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        parent = parent_run_id(str(sweep_dir))
        remote = ray.remote(job).options(
            **OmegaConf.to_container(self.ray_cfg.remote, resolve=True)
        )
        # What a job takes of the launching process: the variables that name the sweep (its
        # parent run, folder and launcher) and the tracking store, its folder and its host.
        environment = {
            name: value
            for name, value in os.environ.items()
            if name.startswith("CUSTOM_DENSE_") or name == "MLFLOW_TRACKING_URI"
        }
        tasks = []
        for number, overrides in enumerate(job_overrides, initial_job_idx):
            log.info(f"\t#{number} : {' '.join(filter_overrides(overrides))}")
            config = self.hydra_context.config_loader.load_sweep_config(
                self.config, list(overrides)
            )
            job_id = f"ray-{parent}-{number}"
            with open_dict(config):
                config.hydra.job.id, config.hydra.job.num = job_id, number
            launcher = {"cwd": os.getcwd(), "host": socket.gethostname()}
            launcher["environment"] = {**environment, LAUNCHER_JOB_ENV: job_id}
            args = (self.hydra_context, config, self.task_function, Singleton.get_state(), launcher)
            tasks.append((job_id, overrides, remote.remote(*args)))
        returns = []
        for job_id, overrides, task in tasks:
            try:
                returns.append(ray.get(task))
            except ray.exceptions.RayError as error:
                reason = f"its Ray worker failed: {_first_line(error)}"
                returns.append(requeue.job_lost(parent, job_id, overrides, reason))
        return returns


def job(hydra_context, sweep_config, task_function, singleton_state, launcher):
    """One job in a Ray worker, set up as a local worker process of the launcher would be: on the
    launcher's host in the launcher's folder, watching the launcher's process."""
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


def _first_line(error):
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
