"""The logged model's format (docs/runs.md): MLflow's Keras 3 flavor, a copy of the library, and
this file, which travels with every model, as its pyfunc loader: stdlib and MLflow only."""

import importlib.util
import pathlib
import shutil
import sys

import mlflow
from mlflow.keras.load import KerasModelWrapper
from mlflow.models import Model
from mlflow.models.model import MLMODEL_FILE_NAME


def save_model(path, mlflow_model, keras_model, **saving):
    """Writes the model in the empty folder `path` (`Model.log` calls it)."""
    import custom_dense  # here, not above: a loading process may not have it yet

    mlflow.keras.save_model(keras_model, path, mlflow_model=mlflow_model, **saving)
    path, package, loader = pathlib.Path(path), pathlib.Path(custom_dense.__file__).parent, __file__
    shutil.copytree(
        package, path / "library" / package.name, ignore=shutil.ignore_patterns("__pycache__")
    )
    (path / "library" / "VERSION").write_text(f"{custom_dense.__version__}\n")
    (path / "code").mkdir()
    shutil.copyfile(loader, path / "code" / pathlib.Path(loader).name)
    pyfunc = mlflow_model.flavors["python_function"]
    pyfunc["loader_module"], pyfunc["code"] = pathlib.Path(loader).stem, "code"
    mlflow_model.save(path / MLMODEL_FILE_NAME)


def _load_pyfunc(path):
    folder = pathlib.Path(path)  # the model's folder, or its `data` folder
    folder = folder if (folder / MLMODEL_FILE_NAME).is_file() else folder.parent
    import_custom_dense(folder / "library")  # registers CustomDense for Keras's safe mode
    return KerasModelWrapper(mlflow.keras.load_model(str(folder)), Model.load(folder).signature)


def import_custom_dense(library):
    """Imports the installed `custom_dense`, else the copy in `library`, last on `sys.path`."""
    if importlib.util.find_spec("custom_dense") is None:
        sys.path.append(str(library))
    import custom_dense

    return custom_dense
