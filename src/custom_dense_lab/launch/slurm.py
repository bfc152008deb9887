"""`hydra/launcher=slurm`: hydra-submitit-launcher's SLURM launcher, submitting the job array
through submitit's API and waiting for every job (docs/scaling-out.md)."""

import contextlib
import io
import logging
import time
from pathlib import Path

import submitit
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra.errors import CompactHydraException
from hydra_plugins.hydra_submitit_launcher import submitit_launcher
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from omegaconf import OmegaConf
from submitit.core.utils import FailedJobError, pickle_load

# States of a job that may still run or run again, as sacct names them (submitit's list).
_UNFINISHED = {"READY", "PENDING", "RUNNING", "UNKNOWN", "REQUEUED", "COMPLETING", "PREEMPTED"}
_UNFINISHED |= {"CONFIGURING", "SUSPENDED"}
_ENDED_BY_SLURM = {
    "CANCELLED": "cancelled",
    "TIMEOUT": "time limit reached",
    "OUT_OF_MEMORY": "out of memory",
    "NODE_FAIL": "node failure",
    "BOOT_FAIL": "node failed to boot",
    "DEADLINE": "deadline reached",
}
_RESULT_GRACE_S = 15.0  # how long a result file may lag behind its job's end (a network disk)
log = logging.getLogger(__name__)


class SlurmLauncher(submitit_launcher.SlurmLauncher):
    """Takes the keys of hydra-submitit-launcher's `submitit_slurm`."""

    def __call__(self, sweep_overrides, *args):
        """Runs one job in its SLURM task, in the run of its first attempt if SLURM requeued it."""
        from custom_dense_lab.launch import requeue  # after the job's quiet start-up

        requeue.adopt_requeued_run(self.parent_run_id, sweep_overrides)
        return super().__call__(sweep_overrides, *args)

    def launch(self, job_overrides, initial_job_idx):
        """One `JobReturn` per job once all have ended; a job SLURM ended returns `None`."""
        from custom_dense_lab.sweep.parent import parent_run_id

        # Each job gets the launcher pickled, and with it the sweep's parent run.
        self.parent_run_id = parent_run_id(str(self.config.hydra.sweep.dir))
        params = dict(self.params)
        executor = submitit.AutoExecutor(
            cluster="slurm",
            folder=params.pop("submitit_folder"),
            slurm_max_num_timeout=params.pop("max_num_timeout"),
        )
        queue_keys = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{key if key in queue_keys else f"slurm_{key}": v for key, v in params.items()}
        )
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        calls, state = [], Singleton.get_state()
        for number, overrides in enumerate(job_overrides, initial_job_idx):
            log.info(f"\t#{number} : {' '.join(filter_overrides(overrides))}")
            calls.append(
                (list(overrides), "hydra.sweep.dir", number, f"job_id_for_{number}", state)
            )
        try:  # submitit prints sbatch's errors too: they are said once, in the error's line
            with contextlib.redirect_stderr(io.StringIO()):
                jobs = executor.map_array(self, *zip(*calls, strict=True))
        except FailedJobError as error:
            reason = "; ".join(str(error).split("\n")) or "sbatch failed"
            raise CompactHydraException(f"SLURM refused the sweep's jobs: {reason}") from None
        return self._collect(jobs, job_overrides)

    def _collect(self, jobs, job_overrides):
        """Waits until every job has ended, reading result files every second and asking SLURM
        every 5 s about a job whose result says it did not complete (ended, or requeued?)."""
        pending = dict(enumerate(zip(jobs, job_overrides, strict=True)))
        returns, ended_at, next_state_poll = [None] * len(jobs), {}, 0.0
        while pending:
            results = {index: _result(job) for index, (job, _) in pending.items()}
            unsure = any(r is not None and not _completed(r) for r in results.values())
            if unsure and time.monotonic() >= next_state_poll:
                jobs[0].watcher.update()
                next_state_poll = time.monotonic() + 5.0
            for index, (job, overrides) in list(pending.items()):
                result, state = results[index], "COMPLETED"
                if not _completed(result):
                    state = job.watcher.get_state(job.job_id, mode="standard")
                    if state.split()[0] in _UNFINISHED:
                        continue
                    since = ended_at.setdefault(index, time.monotonic())
                    if result is None and time.monotonic() - since < _RESULT_GRACE_S:
                        continue
                returns[index] = self._ended(job, overrides, result, state)
                del pending[index]
            if pending:
                time.sleep(1.0)
        return returns

    def _ended(self, job, overrides, result, state):
        """The job's `JobReturn`, and its line: done, its own failure, or one SLURM caused."""
        from custom_dense_lab.launch import requeue

        label, name = " ".join(filter_overrides(overrides)), state.split()[0]
        where = f" (SLURM job {job.job_id})"
        if isinstance(result, JobReturn) and name not in _ENDED_BY_SLURM:
            try:  # a job that raised raises its error here
                score = result.return_value
            except Exception as error:
                print(f"FAILED [{label}] {error}{where}", flush=True)
                return result
            if score is None:
                print(
                    f"FAILED [{label}] {requeue.recorded_failure(self.parent_run_id, job.job_id)}{where}",
                    flush=True,
                )
            else:
                print(f"done [{label}] val_accuracy={score:.4f}{where}", flush=True)
            return result
        if name in _ENDED_BY_SLURM:
            reason = f"ended by SLURM: {_ENDED_BY_SLURM[name]} (state {state})"
        else:
            last_line = result.strip().splitlines()[-1] if result else "no result"
            reason = f"the job's process failed (SLURM state {state}): {last_line}"
        where = f" (SLURM job {job.job_id}; log {job.paths.stdout})"
        return requeue.job_lost(self.parent_run_id, job.job_id, overrides, reason, where)


def _result(job):
    """What the job's result file holds: its `JobReturn`, an error's traceback, or `None` yet.
    A requeued job's file is its last attempt's until the new attempt ends."""
    if not job.paths.result_pickle.exists():
        return None
    outcome, value = pickle_load(job.paths.result_pickle)
    return value if outcome == "success" else str(value)


def _completed(result):
    """Whether the job ran to its end, failed or not: no need to ask SLURM."""
    return isinstance(result, JobReturn) and result.status == JobStatus.COMPLETED
