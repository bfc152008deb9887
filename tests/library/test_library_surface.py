"""The package's surface: its exports, the layer's registration and docstring, Keras-only tests.

That `import custom_dense` loads nothing of the lab, and that a `.keras` file loads
after it with no `custom_objects`, is checked in a fresh process:
tests/e2e/test_library_process.py.
"""

import ast
import doctest
from pathlib import Path

import keras
import pytest

import custom_dense
import custom_dense.layer

LAB_MODULES = ("mlflow", "hydra", "omegaconf", "tensorflow_datasets", "custom_dense_lab")


def test_exports_are_the_layer_convert_and_quantize_model_and_the_layer_is_registered():
    from custom_dense.calibration import quantize_model
    from custom_dense.conversion import convert
    from custom_dense.layer import CustomDense

    assert custom_dense.__all__ == ["CustomDense", "convert", "quantize_model"]
    assert custom_dense.CustomDense is CustomDense
    assert custom_dense.convert is convert
    assert custom_dense.quantize_model is quantize_model
    assert {"CustomDense", "convert", "quantize_model", "__version__"} <= set(dir(custom_dense))
    with pytest.raises(AttributeError, match="no attribute 'Dense'"):
        _ = custom_dense.Dense
    assert keras.saving.get_registered_name(CustomDense) == "custom_dense>CustomDense"
    assert keras.saving.get_registered_object("custom_dense>CustomDense") is CustomDense


def test_importing_the_exports_twice_gives_them_both_times_not_their_modules():
    first, second = {}, {}
    for namespace in (first, second):
        exec("from custom_dense import CustomDense, convert", namespace)
    assert first["convert"] is second["convert"]
    assert type(first["convert"]).__name__ == "function"
    assert first["CustomDense"] is second["CustomDense"] and isinstance(first["CustomDense"], type)


def test_the_layer_docstring_example_runs():
    results = doctest.testmod(custom_dense.layer, optionflags=doctest.ELLIPSIS, report=True)
    assert results.attempted > 0
    assert results.failed == 0, "see the doctest report above"


@pytest.mark.parametrize(
    "module", sorted(Path(__file__).parent.glob("*.py")), ids=lambda path: path.name
)
def test_library_tests_import_nothing_of_the_lab(module):
    tree = ast.parse(module.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    assert not {
        name for name in imported if any(name == m or name.startswith(f"{m}.") for m in LAB_MODULES)
    }
