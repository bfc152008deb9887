"""The project as users install it: a wheel; the library alone; the lab, non-editable, anywhere.

The wheel is built from a copy of the project, so that the checkout stays as it
was. The lab is installed into a folder of its own (`pip install --target`) and
put first on the path, ahead of this venv's editable install; its third-party
packages are this venv's, the ones requirements.lock pins.
"""

import json
import os
import subprocess
import sys
import zipfile
from email.parser import Parser

import keras
import mlflow
import numpy as np
import pytest
from helpers import FAST, REPO_ROOT, copy_project

from custom_dense import CustomDense

pytestmark = pytest.mark.slow
# The tests of the module's one wheel (`wheel`, `installed_lab`) run in one worker under xdist.
SHARES_THE_WHEEL = pytest.mark.xdist_group("wheel")

LAB_DISTRIBUTIONS = {"mlflow", "hydra-core", "tensorflow-datasets", "optuna", "tensorflow"}
# What TensorFlow's C++ runtime prints as it starts, unless a program quiets it.
TENSORFLOW_CHATTER = ("oneDNN", "cpu_feature_guard", "I0000 ", "W0000 ", "E0000 ")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("project") / "custom-dense")
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(project)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    (built,) = dist.glob("custom_dense-*.whl")
    return built


@pytest.fixture(scope="module")
def installed_lab(wheel, tmp_path_factory):
    """The wheel installed, without its dependencies, into a folder of its own."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return target


@SHARES_THE_WHEEL
def test_the_wheel_requires_keras_alone_and_carries_the_labs_configs(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        requires = Parser().parsestr(archive.read(metadata).decode()).get_all("Requires-Dist")
    unconditional = [r for r in requires if ";" not in r]
    assert [r.replace(" ", "") for r in unconditional] == ["keras<4,>=3.15"]
    assert all("extra ==" in r for r in requires if ";" in r)
    shipped = {n.removeprefix("custom_dense_lab/conf/") for n in names if "/conf/" in n}
    in_checkout = {
        str(p.relative_to(REPO_ROOT / "conf")) for p in (REPO_ROOT / "conf").rglob("*.yaml")
    }
    assert shipped == in_checkout


@SHARES_THE_WHEEL
def test_the_library_alone_installs_keras_only_and_loads_a_saved_model(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "-q", str(wheel)],
        check=True, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    listed = subprocess.run(
        [python, "-m", "pip", "list", "--format=json"],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    installed = {entry["name"].lower() for entry in json.loads(listed)}
    assert {"custom-dense", "keras"} <= installed
    assert not installed & LAB_DISTRIBUTIONS

    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((5,)), CustomDense(3, activation="tanh")])
    model.save(tmp_path / "model.keras")
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    # A backend for the new venv: this venv's TensorFlow, after the new venv's own packages.
    (site,) = (venv / "lib").glob("python3.*/site-packages")
    (site / "backend.pth").write_text(
        next(p for p in sys.path if p.endswith("site-packages")) + "\n"
    )
    code = (
        "import keras, numpy as np, custom_dense\n"
        "model = keras.saving.load_model('model.keras')\n"
        "np.save('y.npy', model.predict(np.load('x.npy'), verbose=0))\n"
        "print(custom_dense.__file__, type(model.layers[0]).__name__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [python, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    where, layer = done.stdout.split()[-2:]
    assert where.startswith(str(site)) and layer == "CustomDense"
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), model.predict(x, verbose=0), atol=1e-6)


@SHARES_THE_WHEEL
def test_the_installed_lab_runs_a_sweep_and_compare_from_any_folder(installed_lab, tmp_path):
    folder = tmp_path / "anywhere"
    (folder / "my_conf" / "experiment").mkdir(parents=True)
    (folder / "my_conf" / "experiment" / "tiny.yaml").write_text(
        "# @package _global_\ntrainer:\n  batch_size: 32\n"
    )
    before = sorted(p.relative_to(installed_lab) for p in installed_lab.rglob("*"))
    env = {**os.environ, "PYTHONPATH": str(installed_lab)}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the programs quiet TensorFlow themselves

    def program(name, *args):
        done = subprocess.run(
            [str(installed_lab / "bin" / f"custom-dense-{name}"), *args],
            cwd=folder, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert not [c for c in TENSORFLOW_CHATTER if c in done.stderr], done.stderr[-3000:]
        return done

    where = subprocess.run(
        [sys.executable, "-c", "import custom_dense, custom_dense_lab as lab; "
         "print(custom_dense.__file__); print(lab.__file__)"],
        cwd=folder, env=env, capture_output=True, text=True, check=True, timeout=120,
    ).stdout.split()  # fmt: skip
    assert all(path.startswith(str(installed_lab)) for path in where)

    program("train", "-m", "layer=custom,stock", *FAST, "-cd", "my_conf", "+experiment=tiny")
    compared = program("compare")
    assert "custom" in compared.stdout and "stock" in compared.stdout

    assert sorted(p.relative_to(installed_lab) for p in installed_lab.rglob("*")
                  if "__pycache__" not in p.parts) == [p for p in before if "__pycache__" not in p.parts]  # fmt: skip
    assert {"mlflow.db", "mlruns", "multirun"} <= {p.name for p in folder.iterdir()}
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["custom-dense"], output_format="list")
    statuses = sorted(run.info.status for run in runs)
    assert statuses == ["FINISHED"] * 3  # the sweep's parent and its two jobs
    jobs = [run for run in runs if "mlflow.parentRunId" in run.data.tags]
    assert {run.data.params["trainer.batch_size"] for run in jobs} == {"32"}  # the user's preset


@pytest.mark.parametrize("name", ["train", "compare", "bench", "studies", "ui"])
def test_each_program_runs_as_a_module_too(name, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", f"custom_dense_lab.{name}", "--help"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "usage" in done.stdout.lower() or "powered by hydra" in done.stdout.lower()
