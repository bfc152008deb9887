"""The library in a fresh process: what importing it loads and changes, and saved models.

`import custom_dense` loads Keras and the layer and registers it for Keras
serialization, as every Keras add-on does, so that `keras.saving.load_model`
reads a `.keras` file holding it with no `custom_objects`. It loads nothing of
the lab (no MLflow, Hydra, TFDS), nothing Keras does not load itself, sets no
environment variables and plays no file descriptor 2 games (those belong to the
lab's programs).
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from custom_dense import CustomDense

pytestmark = pytest.mark.slow

# What the lab's command-line programs set in `quiet_start()`: the library must not.
QUIET_START_KEYS = (
    "PYTHONWARNINGS",
    "TF_CPP_MIN_LOG_LEVEL",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR",
)

CHILD = """
import json, os, sys

LAB = ["mlflow", "hydra", "omegaconf", "tensorflow_datasets", "custom_dense_lab"]
# Keras on TensorFlow imports these itself (keras.src.wrappers, data adapters, ...).
HEAVY = [*LAB, "sklearn", "pandas", "matplotlib", "scipy"]
fd2_calls = []
_dup, _dup2 = os.dup, os.dup2


def dup(fd):
    if fd == 2:
        fd2_calls.append(["dup", fd])
    return _dup(fd)


def dup2(fd, fd2, *args, **kwargs):
    if 2 in (fd, fd2):
        fd2_calls.append(["dup2", fd, fd2])
    return _dup2(fd, fd2, *args, **kwargs)


os.dup, os.dup2 = dup, dup2
stderr_file = os.fstat(2)
environ = dict(os.environ)


def loaded(names):
    return sorted(name for name in names if name in sys.modules)


def changed(before):
    return sorted(k for k in {*before, *os.environ} if before.get(k) != os.environ.get(k))


import keras  # TensorFlow sets environment variables of its own as it loads

by_keras = set(loaded(HEAVY))
environ = dict(os.environ)
import custom_dense

report = {
    "loaded_by_package": sorted(set(loaded(HEAVY)) - by_keras),
    "environ_changed_by_package": changed(environ),
    "lab_loaded": loaded(LAB),
    "fd2_calls": fd2_calls,
}
now = os.fstat(2)
report["stderr_same_file"] = (now.st_dev, now.st_ino) == (stderr_file.st_dev, stderr_file.st_ino)
report["exports"] = [isinstance(custom_dense.CustomDense, type), type(custom_dense.convert).__name__]

import numpy as np

model = keras.models.load_model("model.keras")
report["layers"] = [type(layer).__name__ for layer in model.layers]
report["same_class"] = type(model.layers[0]) is custom_dense.CustomDense
np.save("y.npy", model.predict(np.load("x.npy"), verbose=0))
print(json.dumps(report))
"""


@pytest.fixture
def saved_model(tmp_path):
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((3, 6)),
            CustomDense(8, activation="gelu", kernel_regularizer="l2"),
            keras.layers.Flatten(),
            CustomDense(4, activation="softmax", use_bias=False),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(np.random.rand(16, 3, 6), np.random.randint(0, 4, 16), epochs=1, verbose=0)
    x = np.random.default_rng(0).normal(size=(5, 3, 6)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    model.save(tmp_path / "model.keras")
    return model, x


def test_importing_the_library_registers_the_layer_and_loads_nothing_of_the_lab(
    saved_model, tmp_path
):
    model, x = saved_model
    env = {key: value for key, value in os.environ.items() if key not in QUIET_START_KEYS}
    result = subprocess.run(
        [sys.executable, "-c", CHILD],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert report["loaded_by_package"] == []  # nothing Keras did not load itself
    assert report["environ_changed_by_package"] == []
    assert report["lab_loaded"] == []
    assert report["fd2_calls"] == [] and report["stderr_same_file"]

    assert report["layers"] == ["CustomDense", "Flatten", "CustomDense"]
    assert report["same_class"]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), model.predict(x, verbose=0), atol=1e-6)
    assert report["exports"] == [True, "function"]  # the class, and the function (not its module)
