"""The watch of a process that works for another: is that one alive, and what is closed once it is not.

Real processes, a real SQLite store; whole sweeps whose launcher is killed: tests/e2e/test_orphans.py.
"""

import os
import socket
import subprocess
import sys
import textwrap
import time

import mlflow
import psutil

from custom_dense_lab.sweep import parent
from custom_dense_lab.tracking import lifecycle

# A worker of a sweep: it watches the launcher given in its environment, says so, then waits.
WORKER = textwrap.dedent(
    """
    import time
    from custom_dense_lab.sweep import parent
    parent.watch_launcher()
    print("watching", flush=True)
    time.sleep(120)
    """
)


def test_the_launcher_is_alive_as_this_process_s_parent_or_an_older_live_process():
    assert parent.launcher_alive(os.getppid())
    assert parent.launcher_alive(1)  # not the parent, but older than this process


def test_a_launcher_whose_id_is_gone_or_taken_by_a_younger_process_is_not_alive():
    younger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert not parent.launcher_alive(younger.pid)
    finally:
        younger.kill()
        younger.wait()
    assert not parent.launcher_alive(younger.pid)


def test_closing_fails_the_runs_of_the_given_processes_and_the_lost_parent(tracking, monkeypatch):
    client = mlflow.MlflowClient()
    experiment_id = mlflow.set_experiment(tracking.experiment).experiment_id
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    here = {lifecycle.HOST_TAG: socket.gethostname()}

    def running(pid, **tags):
        tags = {**here, lifecycle.PID_TAG: str(pid), **tags}
        return client.create_run(experiment_id, tags=tags).info.run_id

    sweep = running(gone.pid)  # its launcher ended
    mine = running(4242, **{"mlflow.parentRunId": sweep})
    my_backend = running(4343, **{"mlflow.parentRunId": sweep})
    someone_else = running(os.getpid(), **{"mlflow.parentRunId": sweep})
    monkeypatch.setenv(parent.PARENT_RUN_ENV, sweep)

    parent.close_orphaned_runs([4242, 4343], "why")

    for run_id, reason in ((mine, "why"), (my_backend, "why"), (sweep, "the sweep's launching")):
        run = client.get_run(run_id)
        assert run.info.status == "FAILED"
        assert run.data.tags[lifecycle.FAILURE_TAG].startswith(reason)
    assert client.get_run(someone_else).info.status == "RUNNING"
    lifecycle.fail_run(someone_else, "the test is over")


def test_a_worker_whose_launcher_was_killed_closes_its_run_and_the_parent_and_exits(tracking):
    """The launcher is killed and left unreaped, as a shell or a test may leave it: a zombie."""
    client = mlflow.MlflowClient()
    experiment_id = mlflow.set_experiment(tracking.experiment).experiment_id
    host = {lifecycle.HOST_TAG: socket.gethostname()}
    sweep = client.create_run(experiment_id, tags=host).info.run_id
    launcher = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, sweep, WORKER], stdout=subprocess.PIPE, text=True
    )
    worker = psutil.Process(int(launcher.stdout.readline()))
    assert launcher.stdout.readline() == "watching\n"
    client.set_tag(sweep, lifecycle.PID_TAG, str(launcher.pid))
    job = client.create_run(
        experiment_id,
        tags={**host, lifecycle.PID_TAG: str(worker.pid), "mlflow.parentRunId": sweep},
    ).info.run_id

    launcher.kill()
    worker.wait(timeout=10)  # its exit status goes to the process that adopted it
    assert psutil.Process(launcher.pid).status() == psutil.STATUS_ZOMBIE
    launcher.wait()

    for run_id in (job, sweep):
        run = client.get_run(run_id)
        assert run.info.status == "FAILED"
        assert run.data.tags[lifecycle.FAILURE_TAG] == parent.LAUNCHER_ENDED


def test_a_worker_whose_launcher_ended_before_it_watched_does_not_start_its_work(tracking, capfd):
    """As a joblib worker whose launcher is killed while the worker imports TensorFlow."""
    launcher = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, "", WORKER, "--exit-at-once"],
        stdout=subprocess.PIPE,
        text=True,
    )
    worker = psutil.Process(int(launcher.stdout.readline()))
    launcher.stdout.close()
    time.sleep(0.5)
    assert psutil.Process(launcher.pid).status() == psutil.STATUS_ZOMBIE

    worker.wait(timeout=30)  # else it would wait 120 s
    launcher.wait()
    assert capfd.readouterr().err.endswith(f"error: {parent.LAUNCHER_ENDED}: this worker stops\n")


def test_a_backend_worker_whose_caller_was_killed_closes_its_run_and_exits(tracking):
    client = mlflow.MlflowClient()
    experiment_id = mlflow.set_experiment(tracking.experiment).experiment_id
    caller = subprocess.Popen([sys.executable, "-c", _CALLER], stdout=subprocess.PIPE, text=True)
    worker = psutil.Process(int(caller.stdout.readline()))
    tags = {lifecycle.HOST_TAG: socket.gethostname(), lifecycle.PID_TAG: str(worker.pid)}
    job = client.create_run(experiment_id, tags=tags).info.run_id

    caller.kill()
    caller.wait()
    worker.wait(timeout=60)  # TensorFlow loads, then a second at most; else it sleeps 120 s

    run = client.get_run(job)
    assert run.info.status == "FAILED"
    assert run.data.tags[lifecycle.FAILURE_TAG] == parent.CALLER_ENDED


# What `process.backends` does: starts a backend worker and sends it a call (a sleep of 120 s).
_CALLER = textwrap.dedent(
    """
    import os, subprocess, sys, time
    from multiprocessing import Pipe
    pipe, its_end = Pipe()
    worker = subprocess.Popen(
        [sys.executable, "-m", "custom_dense_lab.process.backends",
         str(its_end.fileno()), str(os.getpid())],
        pass_fds=(its_end.fileno(),),
    )
    print(worker.pid, flush=True)
    pipe.send((time.sleep, (120,)))
    time.sleep(120)
    """
)


# A sweep's launcher: it starts the worker given as argv[2] for the sweep argv[1], prints the
# worker's id, then ends (with `--exit-at-once`), or prints the worker's first line and waits.
_LAUNCHER = textwrap.dedent(
    f"""
    import os, subprocess, sys
    env = {{
        **os.environ,
        "{parent.LAUNCHER_PID_ENV}": str(os.getpid()),
        "{parent.PARENT_RUN_ENV}": sys.argv[1],
    }}
    at_once = sys.argv[3:] == ["--exit-at-once"]
    output = subprocess.DEVNULL if at_once else subprocess.PIPE
    worker = subprocess.Popen([sys.executable, "-c", sys.argv[2]], env=env, stdout=output)
    print(worker.pid, flush=True)
    if at_once:
        os._exit(0)
    print(worker.stdout.readline().decode(), end="", flush=True)
    worker.wait()
    """
)
