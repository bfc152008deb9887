"""Every way a job or sweep ends is recorded as it happened: signals, kills, twin sweeps, bad stores.

Real processes get real signals; stores are real SQLite files and a real HTTP
server on loopback. Nothing already recorded may change, and no run may stay
RUNNING once its process is gone.
"""

import http.server
import os
import signal
import subprocess
import sys
import threading
import time

import mlflow
import pytest
from helpers import FAST, run_module, runs_of, sqlite_uri, using_store, wait_for_running_runs

TRAIN = "custom_dense_lab.train"
QUIET_JOB = (*FAST, "mlflow.log_model=false")
LONG = ("trainer.epochs=400", "mlflow.log_model=false")


def start_train(*args, cwd, env=None):
    """Starts `python -m custom_dense_lab.train args` in its own process group."""
    return subprocess.Popen(
        [sys.executable, "-m", TRAIN, *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_until_loading_tensorflow(process, timeout_s=60):
    """Waits until `process` maps TensorFlow's runtime library: it is importing TensorFlow.

    The lab's programs take over SIGINT and SIGTERM just before that import,
    which then takes seconds more.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()[-2000:]
        with open(f"/proc/{process.pid}/maps") as maps:
            if "libtensorflow_framework" in maps.read():
                return
        time.sleep(0.05)
    raise AssertionError(f"the process did not load TensorFlow in {timeout_s} s")


def new_store(folder):
    """Creates a SQLite store in `folder` before any process races this one to it."""
    uri = sqlite_uri(folder)
    with using_store(uri, folder):
        mlflow.search_experiments(max_results=1)
    return uri


def all_runs(uri, folder):
    with using_store(uri, folder):
        return mlflow.search_runs(search_all_experiments=True, output_format="list")


# Each phase of a job's life is stopped by one of the two signals: SIGINT mid-fit and after the
# job finished, SIGTERM while starting and in a backend worker (test_backends.py), both after
# the program's last line; the handlers are the same for both.
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130)])
def test_a_signal_in_the_middle_of_fit_ends_the_job_killed(tmp_path, signum, status):
    uri = new_store(tmp_path)
    process = start_train(*LONG, cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri})
    wait_for_running_runs(uri, tmp_path, 1, process)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == status, stderr[-2000:]
    name = signal.Signals(signum).name
    assert f"interrupted by {name}" in stderr and "Traceback" not in stderr
    (run,) = all_runs(uri, tmp_path)
    assert run.info.status == "KILLED"
    assert run.data.tags["failure_reason"] == f"interrupted by {name}"
    assert "test_accuracy" not in run.data.metrics


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143)])
def test_a_signal_while_starting_ends_the_process_in_one_line(tmp_path, signum, status):
    uri = sqlite_uri(tmp_path)
    process = start_train(*QUIET_JOB, cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri})
    wait_until_loading_tensorflow(process)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == status, stderr[-2000:]
    name = signal.Signals(signum).name
    assert stderr == f"error: interrupted by {name} while starting, before any run\n"
    assert all_runs(uri, tmp_path) == []


def test_a_signal_while_the_command_line_is_checked_ends_it_in_one_line(tmp_path):
    uri = sqlite_uri(tmp_path)
    # Checking 3,000 jobs' configs takes long enough to be stopped in the middle.
    process = start_train(
        "-m", "seed=range(0,3000)", *QUIET_JOB, cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri}
    )
    time.sleep(8.0)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 130, stderr[-2000:]
    assert stderr == "error: interrupted by SIGINT while starting, before any run\n"


def test_a_signal_after_the_job_finished_leaves_its_run_finished_and_exits_130(tmp_path):
    uri = new_store(tmp_path)
    process = start_train(*QUIET_JOB, cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri})
    for line in process.stdout:
        if line.startswith("done ["):
            process.send_signal(signal.SIGINT)
            break
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 130, stderr[-2000:]
    # Whether the stop lands as the job returns or as the program winds up (a busy machine reads
    # the line late) picks the line; the run stays FINISHED either way.
    assert stderr.strip().splitlines()[-1] in (
        "error: interrupted by SIGINT after the job had finished: its run stays FINISHED",
        "error: interrupted by SIGINT after the work had ended: every run keeps the state it "
        "ended in",
    )
    (run,) = all_runs(uri, tmp_path)
    assert run.info.status == "FINISHED" and "failure_reason" not in run.data.tags
    assert "test_accuracy" in run.data.metrics


@pytest.mark.parametrize(("stop", "status"), [("", 3), ("SIGINT", 130), ("SIGTERM", 143)])
def test_a_stop_that_arrives_after_the_program_s_last_line_still_decides_its_status(stop, status):
    # A signal blocked until the end stands for one that arrives after Python's last line:
    # Python itself would exit 3, and never act on it.
    code = (
        "import os, signal\n"
        "from custom_dense_lab.process import signals\n"
        "signals.take_stops_to_the_end('after the work had ended')\n"
        "signals.exit_with(3)\n"
        f"if {stop!r}:\n"
        f"    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.{stop or 'SIGINT'}])\n"
        f"    os.kill(os.getpid(), signal.{stop or 'SIGINT'})\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)

    assert result.returncode == status, result.stderr
    line = f"error: interrupted by {stop} after the work had ended\n" if stop else ""
    assert result.stderr == line


def test_sigterm_stops_a_sweep_and_closes_its_parent_killed_with_the_report(tmp_path):
    uri = new_store(tmp_path)
    process = start_train(
        "-m",
        "layer=custom,stock",
        "seed=0,1",
        *LONG,
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": uri},
    )
    wait_for_running_runs(uri, tmp_path, 1, process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == 143, stderr[-2000:]
    runs = all_runs(uri, tmp_path)
    assert not [run for run in runs if run.info.status == "RUNNING"]
    (parent,) = [run for run in runs if run.data.tags.get("custom_dense.sweep") == "true"]
    assert parent.info.status == "KILLED"
    assert parent.data.tags["failure_reason"].startswith("interrupted by SIGTERM")
    jobs = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(jobs) < 4, "the sweep launched no job after the signal"
    killed = [run for run in jobs if run.info.status == "KILLED"]
    assert len(killed) == 1 and killed[0].data.tags["failure_reason"] == "interrupted by SIGTERM"
    with using_store(uri, tmp_path):
        artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(parent.info.run_id)}
    assert "comparison.md" in artifacts


def start_joblib_sweep(folder):
    """Starts a long 4-job sweep on 2 joblib workers in a new store; returns once both train."""
    uri = new_store(folder)
    process = start_train(
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "layer=custom,stock",
        "seed=0,1",
        *LONG,
        cwd=folder,
        env={"MLFLOW_TRACKING_URI": uri},
    )
    wait_for_running_runs(uri, folder, 2, process)
    return uri, process


def test_ctrl_c_on_a_joblib_sweep_leaves_no_run_running(tmp_path):
    uri, process = start_joblib_sweep(tmp_path)
    os.killpg(process.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole group
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == 130, stderr[-2000:]
    runs = all_runs(uri, tmp_path)
    assert not [run for run in runs if run.info.status == "RUNNING"]
    statuses = {run.info.status for run in runs}
    assert statuses <= {"KILLED", "FINISHED"} and "KILLED" in statuses


def test_a_job_killed_outright_is_closed_by_the_next_command_that_opens_the_store(tmp_path):
    uri = new_store(tmp_path)
    env = {"MLFLOW_TRACKING_URI": uri}
    process = start_train(*LONG, cwd=tmp_path, env=env)
    (lost,) = wait_for_running_runs(uri, tmp_path, 1, process)
    process.kill()
    process.wait(timeout=30)
    assert all_runs(uri, tmp_path)[0].info.status == "RUNNING"

    result = run_module(TRAIN, *QUIET_JOB, cwd=tmp_path, env=env)

    assert result.returncode == 0, result.stderr[-2000:]
    with using_store(uri, tmp_path):
        closed = mlflow.get_run(lost.info.run_id)
    assert closed.info.status == "FAILED"
    assert closed.data.tags["failure_reason"].startswith("the job's process ended")
    assert closed.data.tags["pid"] == str(process.pid)


def test_two_sweeps_started_at_once_never_mix_their_jobs(tmp_path):
    uri = sqlite_uri(tmp_path)
    args = ("-m", "layer=custom,stock", *QUIET_JOB)
    env = {"MLFLOW_TRACKING_URI": uri}
    run_module(TRAIN, "--cfg", "job", cwd=tmp_path, env=env)  # nothing: warms the disk cache
    first, second = (start_train(*args, cwd=tmp_path, env=env) for _ in range(2))
    for process in (first, second):
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr[-2000:]

    with using_store(uri, tmp_path):
        parents = mlflow.search_runs(
            search_all_experiments=True,
            filter_string="tags.`custom_dense.sweep` = 'true'",
            output_format="list",
        )
        assert len(parents) == 2
        for parent in parents:
            jobs = runs_of(parent.info.run_id)
            assert sorted(job.data.params["layer.name"] for job in jobs) == ["custom", "stock"]
    assert len(list((tmp_path / "multirun").glob("*/*"))) == 2


class _UnhealthyServer(http.server.BaseHTTPRequestHandler):
    """Answers `/health` like MLflow, and every API call as a server whose database is down.

    Counts the API calls it answered (`api_calls`): MLflow's client would retry one for minutes.
    """

    api_calls = 0

    def do_GET(self):
        if self.path != "/health":
            type(self).api_calls += 1
        self.send_response(200 if self.path == "/health" else 503)
        self.end_headers()
        self.wfile.write(b"OK" if self.path == "/health" else b"database unavailable")

    do_POST = do_GET  # noqa: N815

    def log_message(self, *args):
        pass


def test_a_server_whose_api_fails_is_refused_at_once(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _UnhealthyServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    uri = f"http://127.0.0.1:{server.server_address[1]}"
    _UnhealthyServer.api_calls = 0
    try:
        result = run_module(TRAIN, *QUIET_JOB, cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri})
    finally:
        server.shutdown()

    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: Invalid MLFLOW_TRACKING_URI='{uri}': expected a running MLflow tracking "
        "server (its REST API answered HTTP 503)."
    )
    assert _UnhealthyServer.api_calls == 1  # refused at the first answer, not retried


@pytest.mark.parametrize(
    ("uri", "accepted"),
    [
        ("garbage://x", "Supported URI schemes are"),
        (
            "sqlite:////proc/1/mlflow.db",
            "a SQLite file in a folder this process can write (/proc/1 is not writable here)",
        ),
    ],
)
def test_an_unusable_store_uri_is_one_line_and_exit_2(tmp_path, uri, accepted):
    result = run_module(TRAIN, *QUIET_JOB, f"mlflow.tracking_uri={uri}", cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"error: Invalid mlflow.tracking_uri='{uri}'")
    assert accepted in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_corrupt_store_is_named_and_left_untouched(tmp_path):
    uri = new_store(tmp_path)
    with using_store(uri, tmp_path), mlflow.start_run(run_name="earlier work"):
        mlflow.log_params({f"param_{i}": i for i in range(50)})
        mlflow.log_metrics({f"metric_{i}": float(i) for i in range(50)})
    database = tmp_path / "mlflow.db"
    damaged = bytearray(database.read_bytes())
    page = 4096
    damaged[3 * page : 3 * page + 64] = b"\xff" * 64  # a broken page in the middle
    database.write_bytes(bytes(damaged))

    result = run_module(TRAIN, *QUIET_JOB, cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri})

    assert result.returncode == 2
    assert "expected an intact SQLite database" in result.stderr and str(database) in result.stderr
    assert database.read_bytes() == bytes(damaged)


def test_a_deleted_experiment_is_refused_with_how_to_restore_it(tmp_path):
    uri = sqlite_uri(tmp_path)
    with using_store(uri, tmp_path):
        experiment_id = mlflow.create_experiment("gone")
        mlflow.delete_experiment(experiment_id)

    result = run_module(
        TRAIN,
        *QUIET_JOB,
        "mlflow.experiment_name=gone",
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": uri},
    )

    assert result.returncode == 2
    assert f"mlflow experiments restore --experiment-id {experiment_id}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    compared = run_module(
        "custom_dense_lab.compare", "--experiment", "gone", cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": uri},
    )  # fmt: skip
    assert compared.returncode == 2
    assert compared.stderr.startswith("error: Invalid --experiment='gone': expected an experiment")
    assert len(compared.stderr.strip().splitlines()) == 1


def test_compare_refuses_what_is_not_a_sweep_with_a_finished_pair(tmp_path):
    uri = sqlite_uri(tmp_path)
    env = {"MLFLOW_TRACKING_URI": uri}
    unavailable = ("dataset=mnist", "dataset.download=false", f"dataset.data_dir={tmp_path}")
    failed = run_module(
        TRAIN, "-m", "layer=custom,stock", *QUIET_JOB, *unavailable, cwd=tmp_path, env=env
    )
    assert failed.returncode == 1

    nothing_paired = run_module("custom_dense_lab.compare", cwd=tmp_path, env=env)
    assert nothing_paired.returncode == 1
    assert "no finished custom/stock pair" in nothing_paired.stderr

    unknown = run_module("custom_dense_lab.compare", "--parent", "0" * 32, cwd=tmp_path, env=env)
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == f"error: no run '{'0' * 32}' in the tracking store"

    plain = next(run for run in all_runs(uri, tmp_path) if "mlflow.parentRunId" in run.data.tags)
    not_a_sweep = run_module(
        "custom_dense_lab.compare", "--parent", plain.info.run_id, cwd=tmp_path, env=env
    )
    assert not_a_sweep.returncode == 2
    assert "is not a sweep's parent run" in not_a_sweep.stderr
    with using_store(uri, tmp_path):
        artifacts = mlflow.MlflowClient().list_artifacts(plain.info.run_id)
    assert not [a for a in artifacts if a.path.startswith("comparison")]


@pytest.fixture
def mounted(tmp_path):
    """Mounts a tmpfs: `mounted(folder, "size=3m")`; every mount is undone after the test."""
    folders = []

    def mount(folder, options):
        folder.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            pytest.skip(f"this machine cannot mount a tmpfs here: {result.stderr.strip()}")
        folders.append(folder)
        return folder

    yield mount
    for folder in reversed(folders):
        subprocess.run(["umount", "--lazy", str(folder)], check=False)


def test_a_disk_that_fills_up_mid_sweep_stops_it_in_one_line_with_true_states(tmp_path, mounted):
    disk = mounted(tmp_path / "disk", "size=3m")
    uri = sqlite_uri(disk)
    sweep = ("-m", "layer=custom,stock", "seed=0,1", "trainer.epochs=2", "model.units=512")

    result = run_module(TRAIN, *sweep, cwd=disk, env={"MLFLOW_TRACKING_URI": uri})

    assert result.returncode == 1, result.stderr[-3000:]
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: no space left on device writing {disk}/"), line
    assert line.endswith("free of 3.0 MiB")
    runs = all_runs(uri, disk)
    assert not [run for run in runs if run.info.status == "RUNNING"]
    (parent,) = [run for run in runs if run.data.tags.get("custom_dense.sweep") == "true"]
    assert parent.info.status == "FAILED"
    assert "the sweep stopped: no space left on device" in parent.data.tags["failure_reason"]
    failed = [run for run in runs if run.info.status == "FAILED" and run is not parent]
    assert failed and all(
        run.data.tags["failure_reason"].startswith("no space left on device") for run in failed
    )
    assert len(runs) < 5, "the sweep went on after the disk was full"

    # The next command on the full disk: one line, before Hydra writes anything.
    subprocess.run(["dd", "if=/dev/zero", f"of={disk / 'filler'}", "bs=64k"], capture_output=True)
    again = run_module(TRAIN, *QUIET_JOB, cwd=disk, env={"MLFLOW_TRACKING_URI": uri})
    assert again.returncode == 1
    assert again.stderr == f"error: no space left to start a job in {disk}: 0 B free of 3.0 MiB\n"
    assert [(run.info.run_id, run.info.status) for run in all_runs(uri, disk)] == [
        (run.info.run_id, run.info.status) for run in runs
    ]


@pytest.mark.parametrize(
    ("args", "key"),
    [
        ((), "hydra.run.dir"),
        (("-m", "seed=0,1"), "hydra.sweep.dir"),
        # Hydra's folder elsewhere: a new experiment would keep its artifacts in ./mlruns.
        (("hydra.run.dir={writable}",), "mlflow.experiment_name"),
    ],
)
def test_a_command_refused_in_a_read_only_folder_creates_nothing(tmp_path, mounted, args, key):
    read_only = mounted(tmp_path / "read_only", "ro,size=1m")
    store = tmp_path / "store"
    store.mkdir()
    args = [arg.format(writable=tmp_path / "outputs") for arg in args]

    result = run_module(
        TRAIN, *args, *QUIET_JOB, f"mlflow.tracking_uri={sqlite_uri(store)}", cwd=read_only
    )

    assert result.returncode == 2, result.stderr[-2000:]
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: Invalid {key}="), line
    assert f"{read_only} is on a read-only file system" in line
    assert list(store.iterdir()) == []  # no store, so no experiment, no parent run


@pytest.mark.parametrize("sweep", [(), ("-m", "layer=custom,stock")])
def test_an_experiment_whose_artifacts_cannot_be_written_is_named_before_any_job(
    tmp_path, mounted, sweep
):
    read_only = mounted(tmp_path / "read_only", "ro,size=1m")
    uri = new_store(tmp_path)
    with using_store(uri, tmp_path):
        mlflow.create_experiment("elsewhere", artifact_location=str(read_only / "mlruns" / "1"))

    result = run_module(
        TRAIN, *sweep, *QUIET_JOB, "mlflow.experiment_name=elsewhere", cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": uri},
    )  # fmt: skip

    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr == (
        "error: Invalid mlflow.experiment_name='elsewhere': expected an experiment whose "
        f"artifacts this process can write (its artifact location {read_only}/mlruns/1: "
        f"{read_only} is on a read-only file system; choose another name).\n"
    )
    assert all_runs(uri, tmp_path) == []


def test_a_folder_that_turns_read_only_mid_sweep_fails_its_job_and_stops_the_sweep(
    tmp_path, mounted
):
    uri = new_store(tmp_path)
    process = start_train(
        "-m",
        "layer=custom,stock",
        "seed=0,1",
        *QUIET_JOB,
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": uri},
    )
    for line in process.stdout:
        if line.startswith("done ["):  # the first job's artifacts are written: no more
            mounted(tmp_path / "mlruns" / "1", "ro,size=1m")
            break
    _, stderr = process.communicate(timeout=300)

    assert process.returncode == 1, stderr[-3000:]
    (line,) = stderr.strip().splitlines()
    assert line.startswith(f"error: read-only file system writing {tmp_path}/mlruns/1/"), line
    runs = all_runs(uri, tmp_path)
    statuses = sorted(run.info.status for run in runs)
    assert statuses == ["FAILED", "FAILED", "FINISHED"], statuses  # parent, second job, first job
    (parent,) = [run for run in runs if run.data.tags.get("custom_dense.sweep") == "true"]
    assert "the sweep stopped: read-only file system" in parent.data.tags["failure_reason"]


def test_a_job_whose_backend_worker_dies_before_its_run_exists_is_counted_as_failed(tmp_path):
    """With torch broken, the torch job fails before its run exists: the sweep still counts it."""
    (tmp_path / "broken" / "torch").mkdir(parents=True)
    (tmp_path / "broken" / "torch" / "__init__.py").write_text("raise ImportError('broken')\n")
    uri = sqlite_uri(tmp_path)
    pythonpath = os.pathsep.join([str(tmp_path / "broken"), os.environ.get("PYTHONPATH", "")])

    result = run_module(
        TRAIN,
        "-m",
        "backend=tensorflow,torch",
        *QUIET_JOB,
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": uri, "PYTHONPATH": pythonpath},
    )

    assert result.returncode == 1, result.stderr[-2000:]
    runs = all_runs(uri, tmp_path)
    (parent,) = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    jobs = {run.data.params.get("backend", "torch"): run for run in runs if run is not parent}
    assert jobs["tensorflow"].info.status == "FINISHED"
    torch_job = jobs["torch"]
    assert torch_job.info.status == "FAILED"
    assert "the torch worker process ended" in torch_job.data.tags["failure_reason"]
    assert torch_job.data.tags["custom_dense.overrides"].startswith("backend=torch")
    assert parent.info.status == "FAILED"
    assert "1 of 2 jobs did not finish: backend=torch" in parent.data.tags["failure_reason"]
