"""The logged model's loader: which custom_dense it runs."""

import sys

import custom_dense
from custom_dense_lab.tracking import custom_dense_pyfunc


def test_the_installed_package_is_used_and_the_copy_stays_off_the_path(tmp_path):
    path_before = list(sys.path)

    assert custom_dense_pyfunc.import_custom_dense(tmp_path) is custom_dense
    assert sys.path == path_before
