"""Sweeps on a real local Ray cluster (`ray start --head`, two worker CPUs): `hydra/launcher=ray`.

One cluster serves the module: started before the first test, stopped after the
last. Each test sweeps into its own SQLite store and checks what it recorded.
"""

import os
import shutil
import subprocess
import sys

import psutil
import pytest
from helpers import FAST, free_port, runs_of, sqlite_uri, using_store, wait_for_running_runs

pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="the `ray` extra is not installed")

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]

RAY = shutil.which("ray", path=os.path.dirname(sys.executable))
# Ray 2.60 clusters ask for a token where ~/.ray holds one: these tests' cluster asks for none.
NO_TOKEN = {**os.environ, "RAY_AUTH_MODE": "disabled"}


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """The environment that points a sweep at a running two-CPU Ray cluster on this machine."""
    port = free_port()
    temp_dir = tmp_path_factory.mktemp("ray")
    start = [RAY, "start", "--head", f"--port={port}", "--num-cpus=2", f"--temp-dir={temp_dir}"]
    started = subprocess.run(
        [*start, "--include-dashboard=false", "--disable-usage-stats"],
        env=NO_TOKEN,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 0, started.stderr
    try:
        yield {**NO_TOKEN, "RAY_ADDRESS": f"127.0.0.1:{port}"}
    finally:
        subprocess.run([RAY, "stop", "--force"], env=NO_TOKEN, capture_output=True, timeout=120)


def start_sweep(folder, env, *overrides):
    command = [sys.executable, "-m", "custom_dense_lab.train", "-m", "hydra/launcher=ray"]
    uri = f"mlflow.tracking_uri={sqlite_uri(folder)}"
    return subprocess.Popen(
        [*command, uri, *overrides],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def parent_of(runs):
    (parent,) = {run.data.tags["mlflow.parentRunId"] for run in runs}
    return parent


def test_a_sweep_runs_every_job_on_the_cluster_and_reports(tmp_path, ray_cluster):
    sweep = start_sweep(tmp_path, ray_cluster, "layer=custom,stock", "seed=0,1", *FAST)
    out, err = sweep.communicate(timeout=600)

    assert sweep.returncode == 0, err
    assert "4 of 4 jobs finished" in out
    with using_store(sqlite_uri(tmp_path), tmp_path):
        import mlflow

        (parent,) = mlflow.search_runs(
            search_all_experiments=True,
            filter_string="tags.`custom_dense.sweep` = 'true'",
            output_format="list",
        )
        jobs = runs_of(parent.info.run_id)
        artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(parent.info.run_id)}
    assert parent.info.status == "FINISHED"
    assert sorted(run.info.status for run in jobs) == ["FINISHED"] * 4
    assert all(run.data.tags["launcher_job_id"].startswith("ray-") for run in jobs)
    assert {"comparison.md", "comparison.csv"} <= artifacts


def test_a_job_whose_ray_worker_is_killed_ends_failed_and_the_sweep_goes_on(tmp_path, ray_cluster):
    # Both jobs on JAX, each in a backend worker of its Ray worker; the long one is killed.
    sweep = start_sweep(
        tmp_path, ray_cluster, "backend=jax", "trainer.epochs=2,2000", "pair_timing.rounds=0"
    )
    uri = sqlite_uri(tmp_path)
    long_run = None
    while long_run is None:  # the short job may train first, and end
        running = wait_for_running_runs(uri, tmp_path, 1, sweep, timeout=300)
        long_run = next((r for r in running if r.data.params["trainer.epochs"] == "2000"), None)
    backend_worker = psutil.Process(int(long_run.data.tags["pid"]))
    ray_worker = backend_worker.parent()
    assert ray_worker.name().startswith("ray::")
    ray_worker.kill()
    out, err = sweep.communicate(timeout=600)

    assert sweep.returncode == 1, err
    assert "1 of 2 jobs finished" in out
    psutil.wait_procs([backend_worker], timeout=10)
    assert not backend_worker.is_running(), "the job's backend worker outlived its Ray worker"
    with using_store(uri, tmp_path):
        import mlflow

        parent = mlflow.get_run(parent_of([long_run]))
        jobs = {run.data.params["trainer.epochs"]: run for run in runs_of(parent.info.run_id)}
    assert jobs["2"].info.status == "FINISHED"
    assert jobs["2"].data.params["backend"] == "jax"
    assert jobs["2000"].info.status == "FAILED"
    assert jobs["2000"].data.tags["failure_reason"].startswith("its Ray worker failed: ")
    assert parent.info.status == "FAILED"
