"""What a job records: its config as MLflow params, its commit, its name and tags."""

import subprocess
from types import SimpleNamespace

import mlflow
from helpers import REPO_ROOT, compose_config

from custom_dense_lab.tracking import names, records


def test_config_params_are_dotted_keys_without_targets_and_with_enum_names():
    params = records.config_params(compose_config("optimizer=sgd", "trainer.verbose=2"))
    assert params["model.units"] == 64 and params["optimizer.momentum"] == 0.9
    assert params["trainer.precision"] == "float32" and params["trainer.verbose"] == "one_line"
    assert params["layer.dense_class"] == "custom_dense.CustomDense"
    assert not [key for key in params if key.endswith("_target_")]
    assert not [key for key in params if key.startswith("hydra")]


def test_the_commit_is_the_labs_own_code_whatever_folder_the_job_runs_in(tmp_path, monkeypatch):
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    monkeypatch.chdir(tmp_path)  # not a repository
    placement = SimpleNamespace(spec="cpu", kind="cpu", name="a CPU")
    tags = records.environment_tags("custom", placement, "cpu")
    assert tags["git_commit"] == head
    assert tags["git_dirty"] in ("true", "false")


def test_a_sweeps_job_is_named_and_tagged_by_its_values_of_the_swept_keys(tracking):
    with mlflow.start_run(tags={names.SWEPT_KEYS_TAG: "layer,model.units"}) as parent:
        pass
    overrides = ["model.units=32", "layer=stock", "trainer.epochs=2"]
    name, tags = records.job_identity(None, overrides, parent.info.run_id)
    assert name == "stock u32"
    assert tags == {
        names.OVERRIDES_TAG: "model.units=32 layer=stock trainer.epochs=2",
        "sweep.layer": "stock",
        "sweep.model.units": "32",
    }
