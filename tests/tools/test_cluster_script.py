"""`scripts/cluster up` on a machine that has never seen SLURM: the order of its steps, its failures.

A real `up` needs root and installs packages (tests/e2e/test_cluster.py runs one).
Here the script's own functions run against a stub of each step that records
the step, so that the order is checked where munge and SLURM are installed
already, as on CI.
"""

import importlib.machinery
import importlib.util
import os

import pytest
from helpers import REPO_ROOT

STEPS = (
    "find_mlflow",
    "check_server_deps",
    "install_missing",
    "remove_runtime_files",
    "make_folders",
    "write_secret",
    "free_ports",
    "write_slurm_conf",
    "write_sacct",
    "init_postgres",
    "start",
    "create_database",
)


@pytest.fixture
def cluster():
    loader = importlib.machinery.SourceFileLoader(
        "cluster_script", str(REPO_ROOT / "scripts" / "cluster")
    )
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture
def recorded(cluster, monkeypatch):
    """Every step of `up` replaced by one that records its name; root, no cluster running."""
    calls = []

    def recorder(name):
        def step(*args, **kwargs):
            calls.append(name)
            if name == "find_mlflow":
                return "mlflow", "python"
            if name == "free_ports":
                return {"slurmctld": 1, "slurmd": 2, "postgres": 3, "mlflow": 4}
            return None

        return step

    for name in STEPS:
        monkeypatch.setattr(cluster, name, recorder(name))
    monkeypatch.setattr(cluster, "load_manifest", lambda layout: None)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    return calls


def test_up_installs_the_packages_before_it_creates_folders_for_their_users(
    cluster, recorded, tmp_path, capsys
):
    assert cluster.main(["up", "--state-dir", str(tmp_path)]) == 0

    assert recorded.index("install_missing") < recorded.index("make_folders")
    assert recorded.index("make_folders") < recorded.index("write_secret") < recorded.index("start")
    assert capsys.readouterr().out.startswith("export MLFLOW_TRACKING_URI=")


def test_a_failing_up_is_one_line_and_prints_no_export_but_false(
    cluster, recorded, monkeypatch, tmp_path, capsys
):
    def no_munge_user(*args, **kwargs):
        raise LookupError("no such user: 'munge'")

    monkeypatch.setattr(cluster, "make_folders", no_munge_user)

    assert cluster.main(["up", "--state-dir", str(tmp_path)]) == 1

    captured = capsys.readouterr()
    assert captured.out == "false\n"  # `eval "$(scripts/cluster up)"` then fails too
    assert captured.err.splitlines() == ["cluster: error: LookupError(\"no such user: 'munge'\")"]
