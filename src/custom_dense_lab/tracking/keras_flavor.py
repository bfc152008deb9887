"""The logged model's format: Keras's own MLflow flavor, no pickle, CustomDense found on load.

`mlflow.tensorflow.log_model` pickles Keras's registered custom objects
(`global_custom_objects.cloudpickle`), and loading unpickles them. Instead the
model is saved with MLflow's Keras 3 flavor (`mlflow.keras`: one `.keras`
file, configs and weights, no pickle), the package's code is copied beside it,
and the pyfunc flavor loads it through this module, which imports
`custom_dense` (registering `CustomDense` for Keras) before Keras's safe-mode
`load_model`. This module imports nothing but MLflow and Keras at load time,
so a process where custom_dense is not installed loads and serves the model
from the copied code.
"""

import os
import shutil

import mlflow
from mlflow.models.model import MLMODEL_FILE_NAME

_CODE_DIR = "code"


def save_model(path, mlflow_model, keras_model, signature, pip_requirements, code_paths):
    """Writes the model in `path`; MLflow's `Model.log` calls it with this module as flavor.

    Args:
        path: An empty folder for the model.
        mlflow_model: The `mlflow.models.Model` that describes it.
        keras_model: The Keras model.
        signature: Its `ModelSignature`.
        pip_requirements: Pinned requirements, as strings.
        code_paths: Folders of Python packages to ship with the model.
    """
    mlflow.keras.save_model(
        keras_model,
        path,
        mlflow_model=mlflow_model,
        signature=signature,
        pip_requirements=pip_requirements,
    )
    for folder in code_paths:
        destination = os.path.join(path, _CODE_DIR, os.path.basename(os.path.normpath(folder)))
        shutil.copytree(folder, destination, ignore=shutil.ignore_patterns("__pycache__"))
    pyfunc = mlflow_model.flavors["python_function"]
    pyfunc["loader_module"] = __name__
    pyfunc["code"] = _CODE_DIR
    mlflow_model.save(os.path.join(path, MLMODEL_FILE_NAME))


def _load_pyfunc(path):
    """Loads the model for `mlflow.pyfunc.load_model`, after registering `CustomDense`."""
    import custom_dense  # noqa: F401 -- importing it registers CustomDense with Keras

    return mlflow.keras._load_pyfunc(path)
