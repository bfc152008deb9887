"""The command line as users run it: sweeps, the report, compare, bad input, the logged model."""

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request

import mlflow
import numpy as np
import pytest
from helpers import (
    FAST,
    QUICK_PAIR_TIMING,
    free_port,
    run_module,
    run_python,
    runs_of,
    sqlite_uri,
    sweep_parents,
    using_store,
    venv_env,
    venv_program,
)

pytestmark = pytest.mark.slow
# The tests of the module's one sweep (`finished_sweep`) run in one worker under xdist.
SHARES_THE_SWEEP = pytest.mark.xdist_group("finished_sweep")
# Where the sweep registers its best custom model: its experiment's and dataset's name.
CHAMPION_NAME = "custom-dense-digits"


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory):
    """A 4-job sweep run once through the CLI, shared by the tests that read it."""
    folder = tmp_path_factory.mktemp("sweep")
    uri = sqlite_uri(folder)
    result = run_module(
        "custom_dense_lab.train",
        "-m",
        "layer=custom,stock",
        "model.units=8,16",
        "trainer.epochs=2",
        "model.depth=1",
        *QUICK_PAIR_TIMING,
        cwd=folder,
        env={"MLFLOW_TRACKING_URI": uri},
    )
    return folder, uri, result


def test_the_bare_command_trains_the_default_job(tmp_path):
    uri = sqlite_uri(tmp_path)
    result = run_module("custom_dense_lab.train", cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "done [default config]" in result.stdout
    with using_store(uri, tmp_path):
        (run,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert run.info.status == "FINISHED"
    assert run.data.params["trainer.epochs"] == "20"


@SHARES_THE_SWEEP
def test_sweep_nests_every_job_under_one_parent_with_a_report(finished_sweep):
    folder, uri, result = finished_sweep
    assert result.returncode == 0, result.stderr[-3000:]
    assert "oneDNN" not in result.stderr and "absl::InitializeLog" not in result.stderr
    mlflow.set_tracking_uri(uri)
    (parent,) = sweep_parents()
    assert parent.info.status == "FINISHED"
    children = runs_of(parent.info.run_id)
    assert len(children) == 4 and {c.info.status for c in children} == {"FINISHED"}
    assert sorted(c.data.tags["layer_impl"] for c in children) == [
        "custom",
        "custom",
        "stock",
        "stock",
    ]
    assert result.stdout.count("done [") == 4

    client = mlflow.MlflowClient()
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"comparison.csv", "comparison.md", "comparison.png"} <= artifacts
    table = mlflow.artifacts.load_text(f"runs:/{parent.info.run_id}/comparison.csv")
    header, *rows = table.strip().splitlines()
    assert len(rows) == 2 and "step_time_ratio" in header and "model.units" in header
    assert parent.data.metrics["max_abs_test_accuracy_delta"] == 0.0
    assert 0.3 < parent.data.metrics["median_step_time_ratio"] < 3.0
    assert parent.data.metrics["timed_pair_count"] == 2
    assert "paired_timings.json" in artifacts
    assert (folder / "multirun").is_dir()
    parent_files = list((folder / "multirun").glob("*/*/mlflow_parent_run_id"))
    assert [p.read_text().strip() for p in parent_files] == [parent.info.run_id]


@SHARES_THE_SWEEP
def test_compare_rebuilds_the_report_of_the_latest_sweep(finished_sweep):
    folder, uri, _ = finished_sweep
    result = run_module(
        "custom_dense_lab.compare",
        cwd=folder,
        env={"MLFLOW_TRACKING_URI": uri, "PYTHONPROFILEIMPORTTIME": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "mlflow" in imported and "tensorflow" not in imported  # the store is all it reads
    mlflow.set_tracking_uri(uri)
    (parent,) = sweep_parents()
    assert parent.info.run_id in result.stdout
    assert "| model.units |" in result.stdout
    # The paired timings the sweep logged at its end make the rebuilt verdict too.
    assert "Training step time, custom / stock: " in result.stdout
    assert "timed in turns at the sweep's end" in result.stdout
    missing = run_module(
        "custom_dense_lab.compare",
        "--experiment",
        "nope",
        cwd=folder,
        env={"MLFLOW_TRACKING_URI": uri},
    )
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1] == "error: no sweep found in experiment 'nope'"
    assert "Traceback" not in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1  # no MLflow warning before it


def test_compare_where_there_is_no_store_says_so_and_creates_none(tmp_path):
    uri = sqlite_uri(tmp_path)
    result = run_module("custom_dense_lab.compare", cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: no sweep found: there is no tracking store at {tmp_path / 'mlflow.db'}"
    ]
    assert list(tmp_path.iterdir()) == []


def test_compare_closes_lost_runs_even_where_it_finds_no_sweep(tmp_path):
    uri = sqlite_uri(tmp_path)
    mlflow.set_tracking_uri(uri)
    experiment_id = mlflow.create_experiment("no-sweep")
    lost = mlflow.MlflowClient().create_run(
        experiment_id, tags={"host": socket.gethostname(), "pid": "999999999"}
    )
    result = run_module(
        "custom_dense_lab.compare", "--experiment", "no-sweep", cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": uri},
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == "error: no sweep found in experiment 'no-sweep'"
    closed = mlflow.get_run(lost.info.run_id)
    assert closed.info.status == "FAILED"
    assert "ended before its run did" in closed.data.tags["failure_reason"]


def custom_run_of(finished_sweep):
    """The store's URI and a custom job's run of the shared sweep."""
    _, uri, _ = finished_sweep
    mlflow.set_tracking_uri(uri)
    (parent,) = sweep_parents()
    runs = runs_of(parent.info.run_id)
    return uri, next(run for run in runs if run.data.tags["layer_impl"] == "custom")


@SHARES_THE_SWEEP
def test_logged_model_loads_where_custom_dense_is_not_installed(finished_sweep, tmp_path):
    uri, _ = custom_run_of(finished_sweep)
    champion = mlflow.MlflowClient().get_model_version_by_alias(CHAMPION_NAME, "champion")
    customs = [
        run
        for run in runs_of(champion.tags["sweep_run_id"])
        if run.data.tags["layer_impl"] == "custom"
    ]
    assert float(champion.tags["score"]) == max(run.data.metrics["val_accuracy"] for run in customs)
    assert champion.tags["job_run_id"] in {run.info.run_id for run in customs}
    code = (
        "import sys\n"
        "sys.path = [p for p in sys.path if '__editable__' not in p and not p.endswith('src')]\n"
        "import importlib.util\n"
        "assert importlib.util.find_spec('custom_dense') is None\n"
        "import mlflow, numpy as np\n"
        f"model = mlflow.pyfunc.load_model('models:/{CHAMPION_NAME}@champion')\n"
        "probabilities = model.predict(np.random.rand(3, 8, 8, 1).astype('float32'))\n"
        "assert probabilities.shape == (3, 10)\n"
        "np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)\n"
        "print('loaded', type(model.get_raw_model().layers[1]).__name__)\n"
    )
    env = {"MLFLOW_TRACKING_URI": uri, "PYTHONPATH": ""}
    result = run_python(code, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "loaded CustomDense" in result.stdout


@SHARES_THE_SWEEP
def test_logged_model_runs_the_installed_custom_dense_and_never_shadows_it(
    finished_sweep, tmp_path
):
    uri, custom_run = custom_run_of(finished_sweep)
    name = f"custom-u{custom_run.data.params['model.units']}-d1-relu"
    code = (
        "import importlib.util, pathlib, sys\n"
        "installed = pathlib.Path(importlib.util.find_spec('custom_dense').origin)\n"
        "import mlflow, numpy as np\n"
        f"model = mlflow.pyfunc.load_model('runs:/{custom_run.info.run_id}/{name}')\n"
        "assert model.predict(np.random.rand(2, 8, 8, 1).astype('float32')).shape == (2, 10)\n"
        "import custom_dense\n"
        "assert pathlib.Path(custom_dense.__file__) == installed, custom_dense.__file__\n"
        "assert not [p for p in sys.path if p.endswith('library')], sys.path\n"
        "print('installed', custom_dense.__version__)\n"
    )
    result = run_python(code, cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "installed" in result.stdout


@SHARES_THE_SWEEP
def test_mlflow_models_serve_answers_invocations(finished_sweep, tmp_path):
    _, uri, _ = finished_sweep
    port = free_port()
    server = subprocess.Popen(
        [venv_program("mlflow"), "models", "serve", "-m", f"models:/{CHAMPION_NAME}@champion",
         "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path, env=venv_env(MLFLOW_TRACKING_URI=uri), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        payload = json.dumps({"inputs": np.zeros((2, 8, 8, 1)).tolist()}).encode()
        deadline = time.monotonic() + 120
        while True:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/invocations",
                    data=payload,
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=10) as response:
                    predictions = json.loads(response.read())["predictions"]
                break
            except OSError:
                assert server.poll() is None, server.stderr.read()[-3000:]
                assert time.monotonic() < deadline, "the scoring server did not answer in 120 s"
                time.sleep(1)
        assert np.asarray(predictions).shape == (2, 10)
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_failing_job_does_not_stop_the_sweep(tmp_path):
    uri = sqlite_uri(tmp_path)
    result = run_module(
        "custom_dense_lab.train",
        "-m",
        "optimizer.learning_rate=0.01,1e30",
        "optimizer=sgd",
        FAST[0],
        "mlflow.log_model=false",
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": uri},
    )
    assert result.returncode == 1
    assert re.search(r"1 job\(s\) failed: optimizer.learning_rate=1e\+?30 ", result.stderr)
    assert "Traceback" not in result.stderr
    mlflow.set_tracking_uri(uri)
    (parent,) = sweep_parents()
    assert parent.info.status == "FAILED"
    assert parent.data.tags["failure_reason"].startswith("1 of 2 jobs")
    statuses = {
        float(c.data.params["optimizer.learning_rate"]): c.info.status
        for c in runs_of(parent.info.run_id)
    }
    assert statuses == {0.01: "FINISHED", 1e30: "FAILED"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["model.units=abc"], "error: Invalid model.units='abc': expected an integer."),
        (["model.units=-5"], "error: Invalid model.units=-5: expected an integer in [1, "),
        (["-m", "model.units=8,0"], "error: Invalid model.units=0: expected an integer in ["),
        (["model.activation=relux"], "error: Invalid model.activation='relux': expected the name"),
    ],
)
def test_bad_input_gets_one_line_and_exit_2_before_any_job(tmp_path, args, message):
    uri = sqlite_uri(tmp_path)
    result = run_module(
        "custom_dense_lab.train", *args, cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri}
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith(message), result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert sorted(tmp_path.iterdir()) == [], "a refused command creates nothing"


@SHARES_THE_SWEEP
def test_a_stray_mlflow_run_id_is_refused_and_the_finished_run_left_as_it_was(finished_sweep):
    folder, uri, _ = finished_sweep
    mlflow.set_tracking_uri(uri)
    (parent,) = sweep_parents()
    client = mlflow.MlflowClient()
    # A sweep pointed at the finished parent, a single job at a finished job of it.
    for finished, args in (
        (parent, ("-m", "layer=custom,stock", *FAST)),
        (runs_of(parent.info.run_id)[0], FAST),
    ):
        run_id = finished.info.run_id
        before = client.get_run(run_id)
        history = client.get_metric_history(run_id, "train_loss")
        result = run_module(
            "custom_dense_lab.train",
            *args,
            cwd=folder,
            env={"MLFLOW_TRACKING_URI": uri, "MLFLOW_RUN_ID": run_id},
        )
        assert result.returncode == 2, result.stderr[-3000:]
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"error: Invalid MLFLOW_RUN_ID='{run_id}': expected a RUNNING")
        assert "not a FINISHED run: unset MLFLOW_RUN_ID" in line
        after = client.get_run(run_id)
        assert (after.info, after.data.to_dictionary()) == (
            before.info,
            before.data.to_dictionary(),
        )
        assert client.get_metric_history(run_id, "train_loss") == history
    assert len(sweep_parents()) == 1


def test_a_value_swept_twice_gives_distinct_names_and_a_report(tmp_path):
    uri = sqlite_uri(tmp_path)
    result = run_module(
        "custom_dense_lab.train", "-m", "layer=custom,custom,stock", *FAST,
        cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    mlflow.set_tracking_uri(uri)
    (parent,) = sweep_parents()
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["pair_count"] == 1
    jobs = sorted(runs_of(parent.info.run_id), key=lambda run: run.info.start_time)
    assert [job.info.run_name for job in jobs] == ["custom", "custom #2", "stock"]
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(parent.info.run_id)}
    assert "comparison.png" in artifacts


def test_a_quantizing_sweep_pairs_custom_and_stock_at_each_mode_and_ships_quantized_models(
    tmp_path,
):
    uri = sqlite_uri(tmp_path)
    result = run_module(
        "custom_dense_lab.train", "-m", "layer=custom,stock", "quantize=null,int8,int4", *FAST,
        cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri},
    )  # fmt: skip

    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == "", result.stderr  # no warning, no TensorFlow note
    mlflow.set_tracking_uri(uri)
    (parent,) = sweep_parents()
    jobs = runs_of(parent.info.run_id)
    assert len(jobs) == 6 and {job.info.status for job in jobs} == {"FINISHED"}
    assert parent.data.metrics["pair_count"] == 3
    assert parent.data.metrics["quantized_pair_count"] == 2
    assert "Quantized models (2 of the 3 pairs)" in parent.data.tags["mlflow.note.content"]
    int4 = next(
        job
        for job in jobs
        if job.data.params["quantize"] == "int4" and job.data.tags["layer_impl"] == "custom"
    )
    metrics = int4.data.metrics
    assert metrics["quantized_model_size_bytes"] < metrics["model_size_bytes"] / 3
    assert 0.0 < metrics["quantized_test_accuracy"] <= 1.0

    code = (
        "import mlflow, numpy as np\n"
        f"model = mlflow.pyfunc.load_model('runs:/{int4.info.run_id}/custom-u16-d1-relu-int4')\n"
        "layers = model.get_raw_model().layers\n"
        "modes = {type(l).__name__: l.quantization_mode for l in layers if l.weights}\n"
        "assert modes == {'CustomDense': 'int4'}, modes\n"
        "probabilities = model.predict(np.random.rand(3, 8, 8, 1).astype('float32'))\n"
        "np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)\n"
        "print('served int4')\n"
    )
    loaded = run_python(code, cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri})
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert "served int4" in loaded.stdout


@pytest.mark.parametrize(
    ("module", "first_line"),
    [
        ("custom_dense_lab.train", "custom-dense-train: trains a multilayer perceptron"),
        ("custom_dense_lab.compare", "usage: custom-dense-compare"),
        ("custom_dense_lab.studies", "usage: custom-dense-studies"),
        ("custom_dense_lab.bench", "usage: custom-dense-bench"),
        ("custom_dense_lab.ui", "usage: custom-dense-ui"),
    ],
)
def test_help_answers_before_tensorflow_or_mlflow_is_imported(module, first_line, tmp_path):
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", module, "--help"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith(first_line)
    assert "_schema" not in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert not {"tensorflow", "mlflow", "keras"} & imported


def test_the_quick_help_is_what_hydras_own_help_prints(tmp_path):
    def train(*args):
        return subprocess.run(
            [sys.executable, "-m", "custom_dense_lab.train", *args],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    quick, hydras = train("--help"), train("--help", "seed=0")  # an override: Hydra's own help
    assert quick.returncode == hydras.returncode == 0, quick.stderr + hydras.stderr
    assert quick.stdout == hydras.stdout
    assert "== Config ==" in quick.stdout and "seed: 0" in quick.stdout


def test_the_config_prints_before_tensorflow_is_imported(tmp_path):
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "custom_dense_lab.train", "--cfg", "job",
         "model.units=8"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "units: 8" in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "tensorflow" not in imported
