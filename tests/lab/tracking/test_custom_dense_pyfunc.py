"""The logged model's loader: which custom_dense it runs, and when it refuses one."""

import sys

import pytest
from mlflow.exceptions import MlflowException

import custom_dense
from custom_dense_lab.tracking import custom_dense_pyfunc


@pytest.mark.parametrize(
    ("installed", "shipped", "expected"),
    [
        ("0.2.0", "0.2.0", True),
        ("0.2.3", "0.2.0", True),
        ("0.2.0", "0.2.3", False),  # older than the copy: may lack what the model uses
        ("0.3.0", "0.2.0", False),  # before 1.0, a minor version may break
        ("1.4.0", "1.2.5", True),
        ("2.0.0", "1.2.5", False),
        ("1.2.4", "1.2.5", False),
        ("0.3", "0.3.0", True),
        ("0.2.1.dev3+g1234", "0.2.1", True),
    ],
)
def test_an_installed_version_stands_in_for_the_copy_under_semantic_versioning(
    installed, shipped, expected
):
    assert custom_dense_pyfunc.compatible(installed, shipped) is expected


def test_the_installed_package_is_used_and_the_copy_stays_off_the_path(tmp_path):
    (tmp_path / "VERSION").write_text(f"{custom_dense.__version__}\n")
    path_before = list(sys.path)

    assert custom_dense_pyfunc.import_custom_dense(tmp_path) is custom_dense
    assert sys.path == path_before


def test_an_installed_package_too_old_for_the_model_is_refused_with_what_to_do(tmp_path):
    (tmp_path / "VERSION").write_text("9.1.0\n")
    with pytest.raises(MlflowException, match=r"logged with custom_dense 9\.1\.0.*~=9\.1\.0"):
        custom_dense_pyfunc.import_custom_dense(tmp_path)


def test_each_model_s_own_copy_decides_even_after_another_model_loaded(tmp_path):
    """The library is found from the model being loaded, not from the loader module's file."""
    model = tmp_path / "model"
    (model / "library").mkdir(parents=True)
    (model / "MLmodel").write_text("flavors: {}\n")
    (model / "library" / "VERSION").write_text("9.1.0\n")
    with pytest.raises(MlflowException, match=r"logged with custom_dense 9\.1\.0"):
        custom_dense_pyfunc._load_pyfunc(str(model / "data"))
