"""End-to-end tests: subprocesses, servers, `mlflow run`, sweeps. All `slow` (see ../conftest.py).

Every subprocess works in a temporary folder (`cwd=tmp_path`) with its own
store; `mlflow run` runs a copy of the project, since MLflow starts the entry
point in the project's folder.
"""

import pytest


@pytest.fixture(scope="session", autouse=True)
def _digits_prepared(prepared_digits):
    return prepared_digits


@pytest.fixture(scope="session", autouse=True)
def _xdist_groups_kept_together(request):
    """Fails every test at once where `--dist loadgroup` would not keep a group on one worker.

    pytest-xdist marks a grouped test by renaming it `<test>@<group>`; a pytest
    that no longer reads that name would run each group's module fixtures (a
    sweep, a cluster, a browser) once per worker, and the tests that share them
    in parallel.
    """
    if not getattr(request.config.option, "loadgroup", False):
        return
    scattered = [
        item.nodeid
        for item in request.session.items
        if item.get_closest_marker("xdist_group") and "@" not in item.nodeid
    ]
    if scattered:
        pytest.fail(
            f"pytest-xdist's --dist loadgroup does not group the tests under pytest "
            f"{pytest.__version__} ({scattered[0]} has no @group): install the pytest of "
            "requirements.lock",
            pytrace=False,
        )
