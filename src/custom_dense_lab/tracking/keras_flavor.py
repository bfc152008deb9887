"""The logged model's format: Keras's own MLflow flavor, no pickle, CustomDense found on load.

`mlflow.tensorflow.log_model` pickles Keras's registered custom objects
(`global_custom_objects.cloudpickle`), and loading unpickles them. Instead the
model is saved with MLflow's Keras 3 flavor (`mlflow.keras`: one `.keras`
file, configs and weights, no pickle). Beside it go a copy of the library and
the pyfunc loader (`custom_dense_pyfunc`), which imports `custom_dense` (the
installed one, else the copy) before Keras's safe-mode `load_model`, so that a
process where custom_dense is not installed loads and serves the model too.
"""

import os
import pathlib
import shutil

import mlflow
from mlflow.models.model import MLMODEL_FILE_NAME

import custom_dense
from custom_dense_lab.tracking import custom_dense_pyfunc

_CODE_DIR = "code"
_LIBRARY = pathlib.Path(custom_dense.__file__).parent


def save_model(path, mlflow_model, keras_model, signature, pip_requirements):
    """Writes the model in `path`; MLflow's `Model.log` calls it with this module as flavor.

    Args:
        path: An empty folder for the model.
        mlflow_model: The `mlflow.models.Model` that describes it.
        keras_model: The Keras model.
        signature: Its `ModelSignature`.
        pip_requirements: Pinned requirements, as strings.
    """
    mlflow.keras.save_model(
        keras_model,
        path,
        mlflow_model=mlflow_model,
        signature=signature,
        pip_requirements=pip_requirements,
    )
    library = os.path.join(path, custom_dense_pyfunc.LIBRARY_DIR)
    shutil.copytree(
        _LIBRARY,
        os.path.join(library, _LIBRARY.name),
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    with open(os.path.join(library, custom_dense_pyfunc.VERSION_FILE), "w") as version_file:
        version_file.write(f"{custom_dense.__version__}\n")
    loader = pathlib.Path(custom_dense_pyfunc.__file__)
    os.makedirs(os.path.join(path, _CODE_DIR))
    shutil.copyfile(loader, os.path.join(path, _CODE_DIR, loader.name))
    pyfunc = mlflow_model.flavors["python_function"]
    pyfunc["loader_module"] = loader.stem
    pyfunc["code"] = _CODE_DIR
    mlflow_model.save(os.path.join(path, MLMODEL_FILE_NAME))
