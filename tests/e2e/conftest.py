"""End-to-end tests: subprocesses, servers, `mlflow run`, sweeps. All `slow` (see ../conftest.py).

Every subprocess works in a temporary folder (`cwd=tmp_path`) with its own
store; `mlflow run` runs a copy of the project, since MLflow starts the entry
point in the project's folder.
"""

from pathlib import Path

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


# The modules whose tests, outside the xdist groups, run whole sweeps: they are handed out
# first, so that none starts last and leaves one worker running alone while the others wait.
_SWEEPING_MODULES = (
    "test_sweep_bench.py",
    "test_train_cli.py",
    "test_scale_out.py",
    "test_backends.py",
    "test_mlflow_project.py",
    "test_orphans.py",
)


def pytest_collection_modifyitems(items):
    """Runs the session's other tests first, then these, those of `_SWEEPING_MODULES` first.

    pytest-xdist's `--dist loadgroup` hands out the groups first (the largest
    first), then the other tests in this order.
    """
    rank = {name: position for position, name in enumerate(_SWEEPING_MODULES)}
    here = Path(__file__).parent

    def order(item):
        if here not in item.path.parents:
            return (0, 0)
        return (1, rank.get(item.path.name, len(rank)))

    items.sort(key=order)
