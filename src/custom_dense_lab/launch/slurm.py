"""`hydra/launcher=slurm`: hydra-submitit-launcher's SLURM launcher, waiting for every job.

Its own `launch` waits on the jobs in order and raises at the first one that
returned no result, while the others still run. This one submits the same job
array through submitit's API and waits for all: a job SLURM ended (scancel,
time limit, memory, a lost node) ends its run FAILED with SLURM's state as the
reason and counts as a failed job; a job SLURM requeued is waited for, and
its next attempt records into the same run (`requeue.adopt_requeued_run`).
"""

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

_POLL_S = 1.0  # how often the result files are read
_STATE_POLL_S = 5.0  # how often SLURM is asked about jobs whose result says they did not complete
_RESULT_GRACE_S = 15.0  # how long a result file may lag behind its job's end (a network disk)
# States of a job that may still run or run again, as sacct names them (submitit's list).
_UNFINISHED_STATES = {"READY", "PENDING", "RUNNING", "UNKNOWN", "REQUEUED", "COMPLETING"} | {
    "PREEMPTED",
    "CONFIGURING",
    "SUSPENDED",
}
_ENDED_BY_SLURM = {
    "CANCELLED": "cancelled",
    "TIMEOUT": "time limit reached",
    "OUT_OF_MEMORY": "out of memory",
    "NODE_FAIL": "node failure",
    "BOOT_FAIL": "node failed to boot",
    "DEADLINE": "deadline reached",
}
log = logging.getLogger(__name__)


class SubmissionError(CompactHydraException):
    """sbatch refused the sweep's job array (Hydra's one-line errors: the program prints it)."""


class SlurmLauncher(submitit_launcher.SlurmLauncher):
    """Submits a sweep as one SLURM job array; returns once every job has ended.

    Takes the keys of hydra-submitit-launcher's `submitit_slurm` config.
    """

    def __call__(self, sweep_overrides, *args):
        """Runs one job in its SLURM task, in the run of its first attempt if SLURM requeued it."""
        from custom_dense_lab.launch import requeue  # after the job's quiet start-up

        requeue.adopt_requeued_run(self.parent_run_id, sweep_overrides)
        return super().__call__(sweep_overrides, *args)

    def launch(self, job_overrides, initial_job_idx):
        """Returns one `JobReturn` per job; a job SLURM ended returns `None`, as a failed job does."""
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
        numbers = range(initial_job_idx, initial_job_idx + len(job_overrides))
        for number, overrides in zip(numbers, job_overrides, strict=True):
            log.info(f"\t#{number} : {' '.join(filter_overrides(overrides))}")
        try:  # submitit prints sbatch's errors too: they are said once, in the error's line
            with contextlib.redirect_stderr(io.StringIO()):
                jobs = executor.map_array(
                    self,
                    [list(overrides) for overrides in job_overrides],
                    ["hydra.sweep.dir"] * len(numbers),
                    list(numbers),
                    [f"job_id_for_{number}" for number in numbers],
                    [Singleton.get_state()] * len(numbers),
                )
        except FailedJobError as error:
            reason = "; ".join(str(error).split("\n")) or "sbatch failed"
            raise SubmissionError(f"SLURM refused the sweep's jobs: {reason}") from None
        return _collect(jobs, job_overrides, self.parent_run_id)


def _collect(jobs, job_overrides, parent):
    """Waits until every job has ended; returns their `JobReturn`s in order.

    Args:
        parent: The sweep's parent run, where the jobs' runs are.
    """
    pending = dict(enumerate(zip(jobs, job_overrides, strict=True)))
    returns = [None] * len(jobs)
    ended_at = {}  # when SLURM first said that a job without a result had ended
    next_state_poll = 0.0
    while pending:
        results = {index: _result(job) for index, (job, _) in pending.items()}
        unsure = any(r is not None and not _completed(r) for r in results.values())
        if unsure and time.monotonic() >= next_state_poll:
            jobs[0].watcher.update()
            next_state_poll = time.monotonic() + _STATE_POLL_S
        for index, (job, overrides) in list(pending.items()):
            result = results[index]
            label = f"[{' '.join(filter_overrides(overrides))}]"
            if _completed(result):
                _say_done(job, label, result, parent)
            else:
                state = job.watcher.get_state(job.job_id, mode="standard")
                if state.split()[0] in _UNFINISHED_STATES:
                    continue
                since = ended_at.setdefault(index, time.monotonic())
                if result is None and time.monotonic() - since < _RESULT_GRACE_S:
                    continue
                result = _ended_job(job, overrides, label, result, state, parent)
            returns[index] = result
            del pending[index]
        if pending:
            time.sleep(_POLL_S)
    return returns


def _result(job):
    """What the job's result file holds: its `JobReturn`, an error's traceback, or `None` yet.

    A requeued job's file is its last attempt's until the new attempt ends.
    """
    if not job.paths.result_pickle.exists():
        return None
    outcome, value = pickle_load(job.paths.result_pickle)
    return value if outcome == "success" else str(value)


def _completed(result):
    """Whether the job ran to its end, failed or not: no need to ask SLURM."""
    return isinstance(result, JobReturn) and result.status == JobStatus.COMPLETED


def _say_done(job, label, result, parent):
    if result.return_value is None:
        print(f"FAILED {label} {_run_failure(job, parent)} (SLURM job {job.job_id})", flush=True)
    else:
        score = f"val_accuracy={result.return_value:.4f}"
        print(f"done {label} {score} (SLURM job {job.job_id})", flush=True)


def _run_failure(job, parent):
    """The `failure_reason` the job recorded on its run."""
    from custom_dense_lab.launch import requeue
    from custom_dense_lab.tracking.lifecycle import FAILURE_TAG

    runs = requeue.job_runs(parent, job.job_id) if parent else []
    reasons = [run.data.tags.get(FAILURE_TAG) for run in runs]
    return next((reason for reason in reversed(reasons) if reason), "see its run")


def _ended_job(job, overrides, label, result, state, parent):
    """A job that ended without completing: its own failure, or one SLURM caused, recorded."""
    name = state.split()[0]
    if isinstance(result, JobReturn) and name not in _ENDED_BY_SLURM:
        try:
            failure = result.return_value
        except Exception as error:
            failure = error
        print(f"FAILED {label} {failure} (SLURM job {job.job_id})", flush=True)
        return result
    if name in _ENDED_BY_SLURM:
        reason = f"ended by SLURM: {_ENDED_BY_SLURM[name]} (state {state})"
    else:
        last_line = result.strip().splitlines()[-1] if result else "no result"
        reason = f"the job's process failed (SLURM state {state}): {last_line}"
    from custom_dense_lab.launch import requeue

    if parent:
        requeue.end_job_runs(parent, job.job_id, overrides, reason)
    print(f"FAILED {label} {reason} (SLURM job {job.job_id}; log {job.paths.stdout})", flush=True)
    ended = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
    ended.return_value = None
    return ended
