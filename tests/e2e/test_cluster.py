"""A real one-node SLURM cluster and a PostgreSQL-backed tracking server (`scripts/cluster`).

One cluster serves the whole module: `scripts/cluster up` before the first
test, `down --purge` after the last, and then none of the processes it
started may still run. Each test sweeps into its own experiment, with tiny
jobs, and checks what the tracking server recorded: jobs nested under one
parent, the comparison report, and the faults a cluster has (the server and
its database restarting mid-sweep, a task cancelled, a task requeued).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mlflow
import pytest
from helpers import QUICK_PAIR_TIMING, REPO_ROOT, runs_of, using_store

# Its tests share module-scoped fixtures: under xdist they run in one worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("cluster")]

CLUSTER = REPO_ROOT / "scripts" / "cluster"
# Tiny jobs, one CPU each, so that the two cores of a CI machine run two at a time.
SLURM = ("hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1")
TINY = ("trainer.epochs=2", "mlflow.log_model=false", *QUICK_PAIR_TIMING)


@pytest.fixture(scope="module")
def cluster():
    """A running cluster: its manifest (`cluster.json`) and the environment to use it with."""
    if os.geteuid() != 0:
        pytest.skip("scripts/cluster up needs root (apt-get, munged, slurmd)")
    if not shutil.which("slurmctld") and not shutil.which("apt-get"):
        pytest.skip("SLURM is not installed and there is no apt-get to install it")
    # Not under pytest's folders: those are private to root, and PostgreSQL and munge run as
    # their own users.
    state_dir = Path(tempfile.mkdtemp(prefix="custom-dense-cluster-test-"))
    up = _cluster("up", state_dir)
    if up.returncode != 0 and "apt-get install" in up.stderr:
        pytest.skip(f"scripts/cluster up could not install SLURM: {up.stderr.strip()}")
    try:
        assert up.returncode == 0, up.stderr
        manifest = json.loads((state_dir / "cluster.json").read_text())
        assert up.stdout.splitlines() == [
            f"export MLFLOW_TRACKING_URI={manifest['tracking_uri']}",
            f"export SLURM_CONF={manifest['slurm_conf']}",
            f'export PATH={manifest["bin"]}:"$PATH"',
        ]
        env = {
            "MLFLOW_TRACKING_URI": manifest["tracking_uri"],
            "SLURM_CONF": manifest["slurm_conf"],
            "PATH": f"{manifest['bin']}:{os.environ['PATH']}",
        }
        yield {"manifest": manifest, "env": env, "state_dir": state_dir}
    finally:
        manifest_file = state_dir / "cluster.json"
        started = (
            json.loads(manifest_file.read_text())["processes"] if manifest_file.exists() else {}
        )
        down = _cluster("down", state_dir, "--purge")
        assert down.returncode == 0, down.stderr
        assert not state_dir.exists()
        still = {name: record["pid"] for name, record in started.items() if _alive(record)}
        assert not still, f"still running after `down`: {still}"


def _cluster(command, state_dir, *args):
    return subprocess.run(
        [sys.executable, str(CLUSTER), command, "--state-dir", str(state_dir), *args],
        cwd=state_dir,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _alive(record):
    """Whether a process `scripts/cluster` recorded, or one of its process group, still runs."""
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid = int(stat_file.parent.name)
        same = pid == record["pid"] and int(fields[19]) == record["start_time"]
        if fields[0] != "Z" and (same or int(fields[2]) == record["pid"]):
            return True
    return False


def _sweep_command(*overrides):
    return [sys.executable, "-m", "custom_dense_lab.train", "-m", *overrides]


def _run_sweep(cluster, folder, *overrides, timeout=300):
    env = {**os.environ, **cluster["env"]}
    return subprocess.run(
        _sweep_command(*overrides),
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _start_sweep(cluster, folder, *overrides):
    """Starts a sweep in the background; its output goes to folder/out.txt and err.txt."""
    env = {**os.environ, **cluster["env"]}
    with (folder / "out.txt").open("w") as out, (folder / "err.txt").open("w") as err:
        return subprocess.Popen(
            _sweep_command(*overrides), cwd=folder, env=env, stdout=out, stderr=err
        )


def _finish(sweep, folder, timeout=300):
    """Waits for a background sweep; returns its exit status, stdout and stderr."""
    try:
        returncode = sweep.wait(timeout=timeout)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    return returncode, (folder / "out.txt").read_text(), (folder / "err.txt").read_text()


def _the_sweep(cluster, experiment):
    """The experiment's one sweep parent and its child runs, by their job's overrides."""
    with using_store(cluster["env"]["MLFLOW_TRACKING_URI"]):
        (parent,) = mlflow.search_runs(
            experiment_names=[experiment],
            filter_string="tags.`custom_dense.sweep` = 'true'",
            output_format="list",
        )
        children = runs_of(parent.info.run_id)
        artifacts = {item.path for item in mlflow.MlflowClient().list_artifacts(parent.info.run_id)}
    return parent, children, artifacts


def _wait_for_running_run(cluster, experiment, epochs, timeout=120):
    """Waits until the job with `trainer.epochs=epochs` has a RUNNING run; returns the run."""
    deadline = time.monotonic() + timeout
    with using_store(cluster["env"]["MLFLOW_TRACKING_URI"]):
        while time.monotonic() < deadline:
            running = mlflow.search_runs(
                experiment_names=[experiment],
                filter_string=f"attributes.status = 'RUNNING' AND params.`trainer.epochs` = '{epochs}'",
                output_format="list",
            )
            if running:
                return running[0]
            time.sleep(1)
    raise AssertionError(f"no RUNNING run with trainer.epochs={epochs} within {timeout} s")


def _slurm(cluster, *argv):
    done = subprocess.run(
        argv, env={**os.environ, **cluster["env"]}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_slurm_sweep_nests_every_job_under_one_parent_on_postgresql(cluster, tmp_path):
    assert cluster["manifest"]["backend_store_uri"].startswith("postgresql://")
    result = _run_sweep(
        cluster,
        tmp_path,
        *SLURM,
        *TINY,
        "layer=custom,stock",
        "mlflow.experiment_name=slurm",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "sacct" not in result.stdout + result.stderr
    assert result.stdout.count("done [") == 2
    parent, children, artifacts = _the_sweep(cluster, "slurm")
    assert parent.info.status == "FINISHED"
    assert len(children) == 2
    assert {run.info.status for run in children} == {"FINISHED"}
    assert len({run.data.tags["launcher_job_id"] for run in children}) == 2
    assert "comparison.csv" in artifacts
    assert parent.data.metrics["pair_count"] == 1.0


def test_a_joblib_sweep_records_on_the_same_server(cluster, tmp_path):
    result = _run_sweep(
        cluster,
        tmp_path,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        *TINY,
        "layer=custom,stock",
        "mlflow.experiment_name=joblib",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    parent, children, artifacts = _the_sweep(cluster, "joblib")
    assert parent.info.status == "FINISHED"
    assert {run.info.status for run in children} == {"FINISHED"}
    assert len(children) == 2
    assert "comparison.csv" in artifacts


def test_a_server_and_database_restart_mid_sweep_loses_no_run(cluster, tmp_path):
    sweep = _start_sweep(
        cluster,
        tmp_path,
        *SLURM,
        "mlflow.log_model=false",
        # The first job long enough that it still logs while the server is down, on a busy
        # machine; the others start while it is down or just back.
        "trainer.epochs=200,2,3",
        "mlflow.experiment_name=restart",
    )
    _wait_for_running_run(cluster, "restart", 200)
    restart = _cluster("restart-server", cluster["state_dir"], "--down-seconds", "20", "--postgres")
    assert restart.returncode == 0, restart.stderr
    returncode, out, err = _finish(sweep, tmp_path)
    assert returncode == 0, out[-3000:] + err[-3000:]  # stdout has each job's FAILED line
    assert out.count("done [") == 3
    parent, children, _ = _the_sweep(cluster, "restart")
    assert parent.info.status == "FINISHED"
    assert len(children) == 3
    assert {run.info.status for run in children} == {"FINISHED"}
    job_logs = "".join(
        path.read_text(errors="replace")
        for path in tmp_path.glob("multirun/**/*")
        if path.suffix in (".out", ".err", ".log")
    )
    assert "MLflow tracking server unreachable (connection refused): retry 1 of 7" in job_logs
    assert "Retrying (Retry(" not in job_logs


def test_a_cancelled_task_fails_its_run_with_slurm_s_reason_and_the_others_run_on(
    cluster, tmp_path
):
    sweep = _start_sweep(
        cluster,
        tmp_path,
        *SLURM,
        "trainer.epochs=2,3,500",
        "mlflow.log_model=false",
        "mlflow.experiment_name=cancel",
    )
    doomed = _wait_for_running_run(cluster, "cancel", 500)
    job_id = doomed.data.tags["launcher_job_id"]
    _slurm(cluster, "scancel", job_id)
    returncode, out, err = _finish(sweep, tmp_path)
    assert returncode == 1
    assert f"ended by SLURM: cancelled (state CANCELLED) (SLURM job {job_id}" in out
    assert "1 job(s) failed: trainer.epochs=500 " in err
    parent, children, _ = _the_sweep(cluster, "cancel")
    by_epochs = {run.data.params["trainer.epochs"]: run for run in children}
    assert by_epochs["500"].info.status == "FAILED"
    assert by_epochs["500"].data.tags["failure_reason"] == (
        "ended by SLURM: cancelled (state CANCELLED)"
    )
    assert {by_epochs[epochs].info.status for epochs in ("2", "3")} == {"FINISHED"}
    assert parent.info.status == "FAILED"
    assert parent.data.tags["failure_reason"].startswith(
        "1 of 3 jobs did not finish: trainer.epochs=500 "
    )


def test_a_requeued_task_runs_again_into_the_same_run(cluster, tmp_path):
    sweep = _start_sweep(
        cluster,
        tmp_path,
        *SLURM,
        "trainer.epochs=2,60",
        "mlflow.log_model=false",
        "mlflow.experiment_name=requeue",
    )
    first = _wait_for_running_run(cluster, "requeue", 60)
    job_id = first.data.tags["launcher_job_id"]
    _slurm(cluster, "scontrol", "requeue", job_id)
    # SLURM holds a requeued job for two minutes; start it again at once.
    deadline = time.monotonic() + 60
    while "JobState=PENDING" not in _slurm(cluster, "scontrol", "-o", "show", "job", job_id):
        assert time.monotonic() < deadline, f"{job_id} was not requeued"
        time.sleep(0.5)
    _slurm(cluster, "scontrol", "update", f"JobId={job_id}", "StartTime=now")
    returncode, out, err = _finish(sweep, tmp_path)
    assert returncode == 0, err[-3000:]
    assert out.count("done [") == 2
    parent, children, _ = _the_sweep(cluster, "requeue")
    assert parent.info.status == "FINISHED"
    assert len(children) == 2
    assert {run.info.status for run in children} == {"FINISHED"}
    (again,) = [run for run in children if run.data.tags["launcher_job_id"] == job_id]
    assert again.info.run_id == first.info.run_id
    assert again.data.tags["launcher_restarts"] == "1"
    assert "failure_reason" not in again.data.tags
