"""The Keras backend as a sweep axis: each job on its backend, in a process of that backend."""

import os
import signal
import subprocess
import sys

import keras
import mlflow
import numpy as np
import psutil
import pytest
from helpers import (
    FAST,
    run_module,
    run_python,
    runs_of,
    sqlite_uri,
    sweep_parents,
    using_store,
    wait_for_running_runs,
)

from custom_dense_lab.tracking import lifecycle

BACKENDS = ("tensorflow", "jax", "torch")
# Keras's `jit_compile="auto"` on a CPU: XLA on JAX only.
AUTO_JIT_ON_CPU = {"tensorflow": "false", "jax": "true", "torch": "false"}


@pytest.fixture(scope="module")
def backend_sweep(tmp_path_factory):
    """`-m backend=tensorflow,jax,torch layer=custom,stock`, with the default launcher."""
    folder = tmp_path_factory.mktemp("backends")
    uri = sqlite_uri(folder)
    result = run_module(
        "custom_dense_lab.train", "-m", f"backend={','.join(BACKENDS)}", "layer=custom,stock",
        *FAST, cwd=folder, env={"MLFLOW_TRACKING_URI": uri},
    )  # fmt: skip
    return folder, uri, result


pytestmark = pytest.mark.slow
# The tests of the module's one sweep (`backend_sweep`) run in one worker under xdist.
SHARES_THE_SWEEP = pytest.mark.xdist_group("backend_sweep")


@SHARES_THE_SWEEP
def test_a_sweep_over_three_backends_runs_each_job_on_its_backend(backend_sweep):
    _, uri, result = backend_sweep
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == "", result.stderr  # quiet on every backend
    mlflow.set_tracking_uri(uri)
    (parent,) = sweep_parents()
    jobs = runs_of(parent.info.run_id)
    assert len(jobs) == 6 and {job.info.status for job in jobs} == {"FINISHED"}
    by_backend = {}
    for job in jobs:
        backend = job.data.params["backend"]
        # What ran is what the job asked for, read from Keras in the job's process.
        assert job.data.tags["keras_backend"] == backend
        assert job.data.tags["jit_compile"] == AUTO_JIT_ON_CPU[backend]
        assert job.data.tags["device"] == "cpu"
        by_backend.setdefault(backend, []).append(job)
    assert "jax_version" in by_backend["jax"][0].data.tags
    assert "torch_version" in by_backend["torch"][0].data.tags
    for backend, pair in by_backend.items():
        accuracies = {job.data.metrics["test_accuracy"] for job in pair}
        assert len(accuracies) == 1, (backend, accuracies)  # custom and stock alike
        # One process per backend: the jobs of a backend shared it.
        assert len({job.data.tags[lifecycle.PID_TAG] for job in pair}) == 1
    assert len({pair[0].data.tags[lifecycle.PID_TAG] for pair in by_backend.values()}) == 3


@SHARES_THE_SWEEP
def test_the_report_pairs_within_each_backend_and_sets_each_against_tensorflow(backend_sweep):
    _, uri, _ = backend_sweep
    mlflow.set_tracking_uri(uri)
    (parent,) = sweep_parents()
    metrics = parent.data.metrics
    assert metrics["pair_count"] == 3 and metrics["timed_pair_count"] == 3
    assert metrics["max_abs_test_accuracy_delta"] == 0.0
    for backend in ("jax", "torch"):
        for name in ("step_time", "infer_latency"):
            for layer in ("custom", "stock"):
                assert metrics[f"{name}_vs_tensorflow_{layer}.{backend}"] > 0
    note = parent.data.tags["mlflow.note.content"]
    assert "Against TensorFlow, median over the configs" in note
    assert "jax step time custom" in note and "torch step time custom" in note
    table = mlflow.artifacts.load_text(f"runs:/{parent.info.run_id}/comparison.csv")
    header, *rows = table.strip().splitlines()
    assert "backend" in header and "step_time_vs_tensorflow_custom" in header and len(rows) == 3


@SHARES_THE_SWEEP
def test_a_model_logged_on_one_backend_predicts_the_same_on_every_backend(backend_sweep):
    folder, uri, _ = backend_sweep
    mlflow.set_tracking_uri(uri)
    (parent,) = sweep_parents()
    (jax_custom,) = [
        job
        for job in runs_of(parent.info.run_id)
        if job.data.params["backend"] == "jax" and job.data.tags["layer_impl"] == "custom"
    ]
    model_uri = f"runs:/{jax_custom.info.run_id}/custom-u16-d1-relu"
    x = np.random.default_rng(0).random((5, 8, 8, 1), dtype=np.float32)
    np.save(folder / "x.npy", x)
    code = (
        "import keras, mlflow, numpy as np\n"
        f"model = mlflow.pyfunc.load_model({model_uri!r})\n"
        "outputs = np.asarray(model.predict(np.load('x.npy')))\n"
        "np.save('outputs_' + keras.config.backend() + '.npy', outputs)\n"
    )
    for backend in ("jax", "torch"):
        loaded = run_python(
            code, cwd=folder, env={"MLFLOW_TRACKING_URI": uri, "KERAS_BACKEND": backend}
        )
        assert loaded.returncode == 0, loaded.stderr[-3000:]
    outputs = {backend: np.load(folder / f"outputs_{backend}.npy") for backend in ("jax", "torch")}
    assert keras.config.backend() == "tensorflow"  # this process's: the model loads here too
    outputs["tensorflow"] = np.asarray(mlflow.pyfunc.load_model(model_uri).predict(x))
    assert outputs["jax"].shape == (5, 10)
    for backend in ("tensorflow", "torch"):
        np.testing.assert_allclose(outputs[backend], outputs["jax"], atol=1e-5)


@pytest.fixture(scope="module")
def reuse_sweep(tmp_path_factory):
    """Per backend, quantized jobs of one graph with and without the compiled models kept.

    Hydra runs `seed=0,1 trainer.reuse=true,false` seed by seed: the job of seed 1 with
    reuse trains through the compiled model of seed 0's, the job after it builds its own.
    """
    folder = tmp_path_factory.mktemp("reuse")
    uri = sqlite_uri(folder)
    result = run_module(
        "custom_dense_lab.train", "-m", f"backend={','.join(BACKENDS)}", "seed=0,1",
        "trainer.reuse=true,false", "quantize=int8", "trainer.epochs=1", "model.units=16",
        "model.depth=1", "pair_timing.rounds=0", "mlflow.log_model=false",
        cwd=folder, env={"MLFLOW_TRACKING_URI": uri},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    with using_store(uri, folder):
        (parent,) = sweep_parents()
        return runs_of(parent.info.run_id)


@pytest.mark.xdist_group("reuse_sweep")
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_quantized_job_trained_through_a_kept_compiled_model_gives_the_same_figures(
    reuse_sweep, backend
):
    jobs = {
        (job.data.params["seed"], job.data.params["trainer.reuse"]): job.data.metrics
        for job in reuse_sweep
        if job.data.params["backend"] == backend
    }
    assert len(jobs) == 4
    figures = ("test_loss", "test_accuracy", "quantized_test_loss", "quantized_test_accuracy")
    for seed in ("0", "1"):
        with_reuse, without = jobs[seed, "True"], jobs[seed, "False"]
        assert {name: with_reuse[name] for name in figures} == {
            name: without[name] for name in figures
        }, (backend, seed)


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143)])
def test_a_stop_while_a_backend_worker_trains_ends_its_run_killed_and_the_worker(
    tmp_path, signum, status
):
    uri = sqlite_uri(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "custom_dense_lab.train", "backend=jax", "trainer.epochs=400",
         "mlflow.log_model=false"],
        cwd=tmp_path, env={**os.environ, "MLFLOW_TRACKING_URI": uri},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    (run,) = wait_for_running_runs(uri, tmp_path, 1, process, timeout=180)
    worker = int(run.data.tags[lifecycle.PID_TAG])
    assert worker != process.pid  # the job trains in the JAX worker
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == status, stderr[-2000:]
    name = signal.Signals(signum).name
    assert "KILLED [backend=jax" in stderr and "Traceback" not in stderr
    with using_store(uri, tmp_path):
        ended = mlflow.get_run(run.info.run_id)
    assert ended.info.status == "KILLED"
    assert ended.data.tags["failure_reason"] == f"interrupted by {name}"
    assert not psutil.pid_exists(worker) or psutil.Process(worker).status() == "zombie"
