"""`hydra/launcher=slurm` and `ray`: hydra-submitit-launcher's and hydra-ray-launcher's launchers,
waiting for every job, and ending the runs of one that died outside its code (docs/scaling-out.md)."""

import contextlib
import io
import os
import socket
import time

import submitit
from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides, run_job, setup_globals
from hydra.errors import CompactHydraException
from hydra_plugins.hydra_submitit_launcher import submitit_launcher
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from omegaconf import OmegaConf, open_dict
from submitit.core.utils import FailedJobError, pickle_load

try:
    from hydra_plugins.hydra_ray_launcher import ray_launcher
except ImportError:  # without the `ray` extra, Hydra finds no Ray launcher here
    ray_launcher = None
_UNFINISHED = {"READY", "PENDING", "RUNNING", "UNKNOWN", "REQUEUED", "COMPLETING", "PREEMPTED"}
_UNFINISHED |= {"CONFIGURING", "SUSPENDED"}  # sacct's states of a job that may run (again)


class SlurmLauncher(submitit_launcher.SlurmLauncher):
    """Takes the keys of hydra-submitit-launcher's `submitit_slurm`."""

    def __call__(self, sweep_overrides, *args):
        """Runs one job in its SLURM task, in the run of its first attempt if SLURM requeued it."""
        from custom_dense_lab import launch  # after the job's quiet start-up

        launch.adopt_requeued_run(self.parent_run_id, sweep_overrides)
        return super().__call__(sweep_overrides, *args)

    def launch(self, job_overrides, initial_job_idx):
        """One `JobReturn` per job once all have ended; a job SLURM ended returns `None`."""
        from custom_dense_lab import launch
        from custom_dense_lab.sweep.parent import parent_run_id
        from custom_dense_lab.tracking.lifecycle import FAILURE_TAG

        # Each job gets the launcher pickled, and with it the sweep's parent run.
        self.parent_run_id = parent_run_id(str(self.config.hydra.sweep.dir))
        params = dict(self.params)
        folder, timeouts = params.pop("submitit_folder"), params.pop("max_num_timeout")
        executor = submitit.AutoExecutor(folder, "slurm", slurm_max_num_timeout=timeouts)
        queue_keys = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{key if key in queue_keys else f"slurm_{key}": v for key, v in params.items()}
        )
        calls, state = [], Singleton.get_state()
        for n, o in enumerate(job_overrides, initial_job_idx):
            calls.append((list(o), "hydra.sweep.dir", n, f"job_id_for_{n}", state))
        try:  # submitit prints sbatch's errors too: they are said once, in the error's line
            with contextlib.redirect_stderr(io.StringIO()):
                jobs = executor.map_array(self, *zip(*calls, strict=True))
        except FailedJobError as error:
            reason = "; ".join(str(error).split("\n")) or "sbatch failed"
            raise CompactHydraException(f"SLURM refused the sweep's jobs: {reason}") from None
        # Result files are read every second; SLURM is asked about a job without a completed
        # one: a stopped job's result may be an attempt's that SLURM then requeued.
        returns, pending, ended_at = [None] * len(jobs), dict(enumerate(jobs)), {}
        while pending:
            time.sleep(1.0)
            for index, job in list(pending.items()):
                result, state = None, "COMPLETED"
                if job.paths.result_pickle.exists():
                    outcome, result = pickle_load(job.paths.result_pickle)
                    result = result if outcome == "success" else str(result)
                if not (isinstance(result, JobReturn) and result.status == JobStatus.COMPLETED):
                    state = job.state
                    if state.split()[0] in _UNFINISHED:
                        continue
                    # A result file may lag behind its job's end (a network disk).
                    since = ended_at.setdefault(index, time.monotonic())
                    if result is None and time.monotonic() - since < 15.0:
                        continue
                del pending[index]
                label, name = " ".join(filter_overrides(job_overrides[index])), state.split()[0]
                if isinstance(result, JobReturn) and name in ("COMPLETED", "FAILED"):
                    returns[index] = result
                    try:  # a job that raised raises its error here
                        score = result.return_value
                    except Exception as error:
                        score = error
                    if score is None:  # the job's own failure, as it recorded it on its run
                        runs = launch.job_runs(self.parent_run_id, job.job_id)
                        score = runs[-1].data.tags.get(FAILURE_TAG) if runs else None
                    line = f"FAILED [{label}] {score or 'see its run'}"
                    if not isinstance(score, str | Exception | None):
                        line = f"done [{label}] val_accuracy={score:.4f}"
                    print(f"{line} (SLURM job {job.job_id})", flush=True)
                    continue
                reason = f"ended by SLURM: {name.lower().replace('_', ' ')} (state {state})"
                if name in ("COMPLETED", "FAILED"):
                    last = result.strip().splitlines()[-1] if result else "no result"
                    reason = f"the job's process failed (SLURM state {state}): {last}"
                where = f" (SLURM job {job.job_id}; log {job.paths.stdout})"
                returns[index] = launch.job_lost(
                    self.parent_run_id, job.job_id, job_overrides[index], reason, where
                )
        return returns


class RayLauncher(ray_launcher.RayLauncher if ray_launcher else object):
    """Takes hydra-ray-launcher's keys, `ray.init` and `ray.remote`."""

    def launch(self, job_overrides, initial_job_idx):
        """One `JobReturn` per job once all have ended; a job whose worker died returns `None`."""
        import ray

        from custom_dense_lab import launch
        from custom_dense_lab.sweep.parent import parent_run_id

        if not ray.is_initialized():
            try:
                ray.init(**OmegaConf.to_container(self.ray_cfg.init, resolve=True))
            except (ConnectionError, RuntimeError, ray.exceptions.RayError) as error:
                token = "InvalidAuthToken" in str(error.__cause__)
                hint = "; the cluster asks for token authentication: set RAY_AUTH_MODE=token, with its token in ~/.ray/auth_token or RAY_AUTH_TOKEN"
                first = str(error).strip().splitlines()[0]
                raise CompactHydraException(f"Ray: {first}{hint * token}") from None
        parent = parent_run_id(str(self.config.hydra.sweep.dir))
        options = OmegaConf.to_container(self.ray_cfg.remote, resolve=True)
        remote, loader = ray.remote(ray_job).options(**options), self.hydra_context.config_loader
        # A job takes the variables that name the sweep (its parent run, folder and launcher)
        # and the tracking store, the launcher's folder and its host.
        names = ("CUSTOM_DENSE_", "MLFLOW_TRACKING_URI")
        environment = {name: value for name, value in os.environ.items() if name.startswith(names)}
        launcher = (environment, os.getcwd(), socket.gethostname(), Singleton.get_state())
        tasks = []
        for number, overrides in enumerate(job_overrides, initial_job_idx):
            config = loader.load_sweep_config(self.config, list(overrides))
            with open_dict(config):
                config.hydra.job.id, config.hydra.job.num = f"ray-{parent}-{number}", number
            task = remote.remote(self.hydra_context, self.task_function, config, *launcher)
            tasks.append((config.hydra.job.id, overrides, task))
        returns = []
        for job_id, overrides, task in tasks:
            try:
                returns.append(ray.get(task))
            except ray.exceptions.RayError as error:
                reason = f"its Ray worker failed: {str(error).strip().splitlines()[0]}"
                returns.append(launch.job_lost(parent, job_id, overrides, reason))
        return returns


def ray_job(hydra_context, task_function, sweep_config, environment, cwd, host, singleton_state):
    """One job, set up in its Ray worker as in a local worker of the launcher's (docs/architecture.md)."""
    from custom_dense_lab.sweep.parent import LAUNCHER_PID_ENV
    from custom_dense_lab.tracking.lifecycle import LAUNCHER_JOB_ENV

    os.environ.update(environment, **{LAUNCHER_JOB_ENV: sweep_config.hydra.job.id})
    if host != socket.gethostname():
        del os.environ[LAUNCHER_PID_ENV]
    if os.path.isdir(cwd):
        os.chdir(cwd)
    setup_globals()
    Singleton.set_state(singleton_state)
    HydraConfig.instance().set_config(sweep_config)
    keys = {"job_dir_key": "hydra.sweep.dir", "job_subdir_key": "hydra.sweep.subdir"}
    return run_job(task_function, sweep_config, hydra_context=hydra_context, **keys)
