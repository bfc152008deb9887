"""`hydra/launcher=slurm`: submitit's SLURM launcher, waiting for every job of the sweep.

hydra-submitit-launcher collects results in submission order and raises at
the first job that did not return one, while the others still run; the
sweep's end then takes their runs for lost. This launcher waits for every
job, and asks SLURM how each one ended when its result says it did not
complete:

- a job SLURM ended (scancel, the time limit, memory, a lost node) ends its
  run FAILED with SLURM's state as the reason (`ended by SLURM: cancelled
  (state CANCELLED)`), and counts as a failed job of the sweep, as a job that
  fails in its own process does: the others run on, and the sweep's parent
  names it;
- a job SLURM requeued (preemption, `scontrol requeue`) is waited for until
  its new attempt ends; the new attempt records into the same run (see
  `launch.requeue.resume_requeued_run`).

Each job prints one line when it ends, as jobs of an in-process sweep do.
"""

import os
import time
from pathlib import Path

import submitit
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher import submitit_launcher
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from omegaconf import OmegaConf
from submitit.core.utils import pickle_load

# How often the result files are looked at.
_POLL_S = 1.0
# How often SLURM is asked about jobs whose result says they did not complete.
_STATE_POLL_S = 5.0
# How long a job's result file may lag behind its end (a network file system).
_RESULT_GRACE_S = 15.0
# States of a job that may still run or run again, as sacct names them (submitit's list).
_UNFINISHED_STATES = {
    "READY",
    "PENDING",
    "RUNNING",
    "UNKNOWN",
    "REQUEUED",
    "COMPLETING",
    "PREEMPTED",
    "CONFIGURING",
    "SUSPENDED",
}
# States of a job that SLURM ended from outside, and what they mean.
_ENDED_BY_SLURM = {
    "CANCELLED": "cancelled",
    "TIMEOUT": "time limit reached",
    "OUT_OF_MEMORY": "out of memory",
    "NODE_FAIL": "node failure",
    "BOOT_FAIL": "node failed to boot",
    "DEADLINE": "deadline reached",
}


class SlurmLauncher(submitit_launcher.SlurmLauncher):
    """Submits a sweep as one SLURM job array and returns once every job has ended.

    Takes the keys of hydra-submitit-launcher's `submitit_slurm` config.
    """

    def launch(self, job_overrides, initial_job_idx):
        """Submits the jobs and waits for all of them.

        Args:
            job_overrides: Each job's overrides.
            initial_job_idx: The number of the first job in the sweep.

        Returns:
            One `JobReturn` per job, in order. A job SLURM ended, or whose
            process died without a result, returns `None` like a job that
            failed in its process, its run FAILED with the reason.
        """
        jobs = self._submit(job_overrides, initial_job_idx)
        return _collect(jobs, job_overrides)

    def _submit(self, job_overrides, initial_job_idx):
        """Submits the jobs as hydra-submitit-launcher does; returns submitit's jobs."""
        params = dict(self.params)
        executor = submitit.AutoExecutor(
            cluster=self._EXECUTOR,
            folder=params.pop("submitit_folder"),
            slurm_max_num_timeout=params.pop("max_num_timeout"),
        )
        queue_keys = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{key if key in queue_keys else f"slurm_{key}": v for key, v in params.items()}
        )
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            sweep_dir.chmod(int(str(self.config.hydra.sweep.mode), 8))
        job_params = []
        for number, overrides in enumerate(job_overrides, start=initial_job_idx):
            submitit_launcher.log.info(f"\t#{number} : {' '.join(filter_overrides(overrides))}")
            job_params.append(
                (
                    list(overrides),
                    "hydra.sweep.dir",
                    number,
                    f"job_id_for_{number}",
                    Singleton.get_state(),
                )
            )
        return executor.map_array(self, *zip(*job_params, strict=True))


def _collect(jobs, job_overrides):
    """Waits until every job has ended; returns their `JobReturn`s in order.

    Result files are read every second. SLURM is asked (sacct) every few
    seconds about jobs whose result says they did not complete, and about
    the others at submitit's own pace.
    """
    pending = dict(enumerate(zip(jobs, job_overrides, strict=True)))
    returns = [None] * len(jobs)
    ended_at = {}  # when SLURM first said that a job without a result had ended
    next_state_poll = 0.0
    while pending:
        results = {index: _result(job) for index, (job, _) in pending.items()}
        unsure = [r for r in results.values() if r is not None and not _completed(r)]
        if unsure and time.monotonic() >= next_state_poll:
            jobs[0].watcher.update()
            next_state_poll = time.monotonic() + _STATE_POLL_S
        for index, (job, overrides) in list(pending.items()):
            result = results[index]
            if not _completed(result):
                state = job.watcher.get_state(job.job_id, mode="standard")
                if state.split()[0] in _UNFINISHED_STATES:
                    continue
                since = ended_at.setdefault(index, time.monotonic())
                if result is None and time.monotonic() - since < _RESULT_GRACE_S:
                    continue
                result = _ended_job(job, overrides, result, state)
            else:
                _say_done(job, overrides, result)
            returns[index] = result
            del pending[index]
        if pending:
            time.sleep(_POLL_S)
    return returns


def _result(job):
    """The job's `JobReturn` from its result file; an error's traceback; `None` before it ends.

    The file holds `("success", JobReturn)` or `("error", traceback)`: a
    requeued job's file is its last attempt's until the new one ends.
    """
    path = job.paths.result_pickle
    if not path.exists():
        return None
    outcome, value = pickle_load(path)
    return value if outcome == "success" else str(value)


def _completed(result):
    """Whether `_result` read a job that ran to its end, failed or not: it needs no SLURM state."""
    return isinstance(result, JobReturn) and result.status == JobStatus.COMPLETED


def _say_done(job, overrides, result):
    """One line for a job that returned: its score, or why it failed (its run's reason)."""
    label = " ".join(filter_overrides(overrides))
    if result.return_value is None:
        print(f"FAILED [{label}] {_run_failure(job)} (SLURM job {job.job_id})", flush=True)
    else:
        score = f"val_accuracy={result.return_value:.4f}"
        print(f"done [{label}] {score} (SLURM job {job.job_id})", flush=True)


def _run_failure(job):
    """The `failure_reason` the job recorded on its run."""
    # Imported here: a job's process unpickles this launcher before its program, whose quiet
    # start-up must come before anything imports TensorFlow (see `process.startup`).
    from custom_dense_lab.launch import requeue
    from custom_dense_lab.sweep.parent import PARENT_RUN_ENV
    from custom_dense_lab.tracking import lifecycle

    parent = os.environ.get(PARENT_RUN_ENV)
    runs = requeue.job_runs(parent, job.job_id) if parent else []
    reasons = [run.data.tags.get(lifecycle.FAILURE_TAG) for run in runs]
    return next((reason for reason in reversed(reasons) if reason), "see its run")


def _ended_job(job, overrides, result, state):
    """What a job that ended without completing returns; records its end if SLURM caused it.

    Args:
        job: The submitit job.
        overrides: The job's overrides.
        result: What `_result` read: a failed `JobReturn`, a traceback or `None`.
        state: SLURM's final state of the job.

    Returns:
        The job's own failed `JobReturn` when SLURM did not end it; else a
        `JobReturn` of `None` (a failed job, as `run_task` returns it), after
        its run was ended FAILED with SLURM's reason.
    """
    label = " ".join(filter_overrides(overrides))
    name = state.split()[0]
    if isinstance(result, JobReturn) and name not in _ENDED_BY_SLURM:
        print(f"FAILED [{label}] {_failure_of(result)} (SLURM job {job.job_id})", flush=True)
        return result
    if name in _ENDED_BY_SLURM:
        reason = f"ended by SLURM: {_ENDED_BY_SLURM[name]} (state {state})"
    else:
        last_line = result.strip().splitlines()[-1] if result else "no result"
        reason = f"the job's process failed (SLURM state {state}): {last_line}"
    from custom_dense_lab.launch import requeue  # see `_run_failure`
    from custom_dense_lab.sweep.parent import PARENT_RUN_ENV

    parent = os.environ.get(PARENT_RUN_ENV)
    if parent:
        requeue.end_job_runs(parent, job.job_id, overrides, reason)
    print(f"FAILED [{label}] {reason} (SLURM job {job.job_id}; log {job.paths.stdout})", flush=True)
    return JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED, _return_value=None)


def _failure_of(result):
    """The exception a failed `JobReturn` holds: its `return_value` raises it."""
    try:
        return result.return_value
    except Exception as error:
        return error
