"""The pyfunc loader of a logged model: imports custom_dense, then lets MLflow's Keras flavor load.

This file travels with every logged model, as `code/custom_dense_pyfunc.py`,
beside a copy of the library in `library/custom_dense/` and the copy's version
in `library/VERSION` (see `keras_flavor.save_model`). MLflow puts `code/` on
`sys.path` and imports this module by its file name; it imports nothing but
the standard library, `packaging` and MLflow, so it runs wherever MLflow does.

The layer's code comes from an installed `custom_dense` when there is one of a
compatible version, and from the copy only where none is installed. The copy
goes at the end of `sys.path`, so it never shadows an installed package.
Loading a model runs the layer's code, as with any MLflow model that carries
custom code: load models from stores you trust.
"""

import importlib.util
import pathlib
import sys

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.models.model import MLMODEL_FILE_NAME
from packaging.version import Version

LIBRARY_DIR = "library"
VERSION_FILE = "VERSION"


def _load_pyfunc(path):
    """Loads the model for `mlflow.pyfunc.load_model`, after importing `custom_dense`.

    Importing the package registers `CustomDense` with Keras, whose safe-mode
    `load_model` then finds it.

    Raises:
        MlflowException: An installed `custom_dense` whose version cannot load
            the model.
    """
    import_custom_dense(_model_folder(path) / LIBRARY_DIR)
    return mlflow.keras._load_pyfunc(path)


def _model_folder(path):
    """The folder of the model MLflow loads: `path`, or its parent, whichever holds `MLmodel`."""
    path = pathlib.Path(path)
    return path if (path / MLMODEL_FILE_NAME).is_file() else path.parent


def import_custom_dense(library):
    """Imports the installed `custom_dense` if compatible, else the copy in `library`.

    Args:
        library: The folder that holds the model's copy of the package and its
            `VERSION` file.

    Returns:
        The imported module.

    Raises:
        MlflowException: `custom_dense` is installed in a version that is not
            compatible with the model's copy.
    """
    shipped = (library / VERSION_FILE).read_text().strip()
    if importlib.util.find_spec("custom_dense") is None:
        sys.path.append(str(library))
    import custom_dense

    if not compatible(custom_dense.__version__, shipped):
        raise MlflowException(
            f"this model was logged with custom_dense {shipped}, and the installed "
            f"custom_dense {custom_dense.__version__} ({custom_dense.__file__}) is not "
            f"compatible with it: install custom-dense~={shipped}, or load the model where "
            "custom_dense is not installed (it carries its own copy)"
        )
    return custom_dense


def compatible(installed, shipped):
    """Whether an installed version can stand in for the shipped one: semantic versioning.

    The same major version and no older than the shipped one; before 1.0, the
    same minor version too. Releases compare by number (`0.3` is `0.3.0`); a
    development or local build counts as its release.
    """
    installed, shipped = (Version(Version(v).base_version) for v in (installed, shipped))
    same_series = installed.major == shipped.major and (
        shipped.major > 0 or installed.minor == shipped.minor
    )
    return same_series and installed >= shipped
