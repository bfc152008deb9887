"""No process of a sweep outlives its launcher, whenever the launcher is killed outright.

A joblib sweep's launcher gets SIGKILL, alone, at three moments: while its
workers import, between two jobs, and mid-training (over the jax and torch
backends, whose jobs run in backend workers that the joblib workers start).
In each, 15 s later no process of the sweep is alive, no run is RUNNING, and
no job ended FINISHED after the kill: the stopped ones are FAILED with the
reason, and so is the sweep's parent.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import psutil
from helpers import sqlite_uri, using_store, wait_for_running_runs
from hydra.experimental.callback import Callback

from custom_dense_lab.sweep.parent import LAUNCHER_ENDED, LAUNCHER_PID_ENV, SWEEP_TAG

# How long after the kill no process of the sweep may be alive: a worker killed while it
# imports TensorFlow acts once that import lets its watch run, which takes seconds under load.
GONE_WITHIN_S = 15
SMALL = ("model.units=16", "model.depth=1", "mlflow.log_model=false")
SHORT_EPOCHS = 2


class KillTheLauncherAfterAShortJob(Callback):
    """Kills the sweep's launcher (SIGKILL) as its job of `SHORT_EPOCHS` epochs ends.

    A Hydra callback: under the joblib launcher it runs in the worker that ran
    the job, which then takes its next job, or waits for one.
    """

    def on_job_end(self, config, job_return, **kwargs):
        if config.trainer.epochs == SHORT_EPOCHS:
            os.kill(int(os.environ[LAUNCHER_PID_ENV]), signal.SIGKILL)


def start_joblib_sweep(folder, *overrides, env=None):
    """Starts a 2-worker joblib sweep in a new store; returns the store's URI and the launcher."""
    uri = sqlite_uri(folder)
    with using_store(uri, folder):
        mlflow.search_experiments(max_results=1)  # the store exists before any process races to it
    launcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "custom_dense_lab.train",
            "-m",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
            *SMALL,
            *overrides,
        ],
        cwd=folder,
        env={**os.environ, "MLFLOW_TRACKING_URI": uri, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    return uri, launcher


def processes_of(launcher):
    """The processes that the sweep of `launcher` started: its workers, their backend workers."""
    return [
        process
        for process in psutil.process_iter(["environ", "cmdline"])  # None where gone, or a zombie
        if (process.info["environ"] or {}).get(LAUNCHER_PID_ENV) == str(launcher.pid)
        and process.pid != launcher.pid
    ]


def kill(launcher):
    """SIGKILL to the launcher alone, left unreaped; returns the time, in MLflow's milliseconds."""
    launcher.kill()
    return time.time() * 1000


def assert_nothing_outlives(launcher, killed_ms, uri, folder):
    """Asserts the sweep's state `GONE_WITHIN_S` after its launcher died at `killed_ms`.

    Returns:
        The store's runs, parent included.
    """
    deadline = killed_ms / 1000 + GONE_WITHIN_S
    psutil.wait_procs(processes_of(launcher), timeout=max(0.0, deadline - time.time()))
    alive = processes_of(launcher)
    for process in alive:  # the failure below names them; nothing is left to the next test
        with contextlib.suppress(psutil.Error):
            process.kill()
    launcher.wait()
    assert not alive, [" ".join((process.info["cmdline"] or [])[:6]) for process in alive]
    with using_store(uri, folder):
        runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    stderr = launcher.stderr.read()[-3000:]  # the workers' lines, whose writers are all gone
    assert not [run.info.run_name for run in runs if run.info.status == "RUNNING"], stderr
    late = [run for run in runs if run.info.status == "FINISHED" and run.info.end_time > killed_ms]
    assert not late, [run.info.run_name for run in late]
    (parent,) = [run for run in runs if run.data.tags.get(SWEEP_TAG) == "true"]
    assert parent.info.status == "FAILED"
    assert parent.data.tags["failure_reason"] == LAUNCHER_ENDED
    return runs


def wait_until_a_worker_loads_tensorflow(launcher, timeout_s=300):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert launcher.poll() is None, launcher.stderr.read()[-2000:]
        for worker in psutil.Process(launcher.pid).children():
            with contextlib.suppress(OSError), open(f"/proc/{worker.pid}/maps") as maps:
                if "libtensorflow_framework" in maps.read():
                    return
        time.sleep(0.05)
    raise AssertionError(f"no worker loaded TensorFlow in {timeout_s} s")


def test_a_launcher_killed_while_its_workers_import_leaves_no_worker(tmp_path):
    uri, launcher = start_joblib_sweep(tmp_path, "layer=custom,stock", "trainer.epochs=400")
    wait_until_a_worker_loads_tensorflow(launcher)

    runs = assert_nothing_outlives(launcher, kill(launcher), uri, tmp_path)

    assert len(runs) == 1, "no job started"


def test_a_launcher_killed_between_two_jobs_leaves_no_worker(tmp_path):
    tests = Path(__file__).resolve().parents[1]  # where the callback's module is found
    paths = [str(tests / "e2e"), str(tests), os.environ.get("PYTHONPATH")]
    uri, launcher = start_joblib_sweep(
        tmp_path,
        f"trainer.epochs={SHORT_EPOCHS},400,401",
        "+hydra.callbacks.kill_launcher._target_=test_orphans.KillTheLauncherAfterAShortJob",
        env={"PYTHONPATH": os.pathsep.join(filter(None, paths))},
    )
    assert launcher.wait(timeout=300) == -signal.SIGKILL, launcher.stderr.read()[-2000:]
    with using_store(uri, tmp_path):
        (short,) = mlflow.search_runs(
            search_all_experiments=True,
            filter_string=f"params.`trainer.epochs` = '{SHORT_EPOCHS}'",
            output_format="list",
        )

    runs = assert_nothing_outlives(launcher, short.info.end_time, uri, tmp_path)

    assert short.info.status == "FINISHED"
    stopped = [run for run in runs if run.info.run_id != short.info.run_id]
    assert {run.data.tags["failure_reason"] for run in stopped} == {LAUNCHER_ENDED}


def test_a_launcher_killed_mid_training_takes_the_backend_workers_with_it(tmp_path):
    uri, launcher = start_joblib_sweep(
        tmp_path, "backend=jax,torch", "trainer.epochs=3000", "pair_timing.rounds=0"
    )
    wait_for_running_runs(uri, tmp_path, 2, launcher, timeout=300)
    backend_workers = [
        process
        for process in processes_of(launcher)
        if "custom_dense_lab.process.backends" in (process.info["cmdline"] or [])
    ]
    assert len(backend_workers) == 2

    runs = assert_nothing_outlives(launcher, kill(launcher), uri, tmp_path)

    jobs = {run.data.tags["keras_backend"]: run for run in runs if "keras_backend" in run.data.tags}
    assert set(jobs) == {"jax", "torch"}
    for job in jobs.values():
        assert job.info.status == "FAILED"
        assert job.data.tags["failure_reason"] == LAUNCHER_ENDED
        assert job.data.tags["pid"] in {str(process.pid) for process in backend_workers}
