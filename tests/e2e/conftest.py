"""End-to-end tests: subprocesses, servers, `mlflow run`, sweeps. All `slow` (see ../conftest.py).

Every subprocess works in a temporary folder (`cwd=tmp_path`) with its own
store; `mlflow run` runs a copy of the project, since MLflow starts the entry
point in the project's folder.
"""

import pytest


@pytest.fixture(scope="session", autouse=True)
def _digits_prepared(prepared_digits):
    return prepared_digits
