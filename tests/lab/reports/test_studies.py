"""Study reports, rebuilt from real (small) sweeps logged in this process.

Each study's small sweep runs once, on first use, in the session's store.
"""

import mlflow
import pytest
from helpers import REPO_ROOT, compose_config, import_cli, using_store

from custom_dense_lab import arguments
from custom_dense_lab.process import backends
from custom_dense_lab.sweep.parent import SWEEP_TAG

run_job = import_cli("custom_dense_lab.training.task").run_job

SMALL = ["trainer.epochs=3", "model.depth=1", "mlflow.log_model=false"]
# The report is the same for every study: one without quantization and one with.
SWEEPS = {
    "parity": [["model.units=16"], ["seed=0", "seed=1"]],
    "quantization": [["quantize=int8"], ["model.units=16"]],
}


def run_small_sweep(study):
    """Runs custom and stock over the study's small grid under one parent run."""
    experiment = f"study-{study.replace('_', '-')}"
    experiment_id = mlflow.set_experiment(experiment).experiment_id
    client = mlflow.MlflowClient()
    parent = client.create_run(experiment_id, tags={SWEEP_TAG: "true"}).info.run_id
    grid = [["layer=custom", "layer=stock"], *SWEEPS[study]]
    combos = [[]]
    for axis in grid:
        combos = [[*combo, value] for combo in combos for value in axis]
    store = f"mlflow.tracking_uri={mlflow.get_tracking_uri()}"  # for a worker of another backend
    for overrides in combos:
        config = compose_config(*SMALL, *overrides, f"mlflow.experiment_name={experiment}", store)
        metrics = backends.run_in_backend(
            config.backend.value, run_job, config, overrides, True, parent
        )
        assert metrics is not None
    client.set_terminated(parent)
    return parent


@pytest.fixture(scope="module")
def study_sweeps(shared_store, tmp_path_factory):
    """`sweep_of(study)`: the parent run of the study's small sweep, run once for the module."""
    folder = tmp_path_factory.mktemp("study_sweeps")
    parents = {}

    def sweep_of(study):
        if study not in parents:
            with using_store(shared_store, folder):
                parents[study] = run_small_sweep(study)
        return parents[study]

    return sweep_of


@pytest.fixture
def in_study_store(shared_store):
    mlflow.set_tracking_uri(shared_store)
    return shared_store


@pytest.fixture(scope="module")
def studies_cli():
    return import_cli("custom_dense_lab.studies")


@pytest.mark.slow
@pytest.mark.parametrize("study", sorted(SWEEPS))
def test_a_study_report_is_rebuilt_from_its_latest_sweep(
    study, study_sweeps, in_study_store, studies_cli, tmp_path, capsys
):
    parent = study_sweeps(study)
    studies_cli.main([study, "--output", str(tmp_path)])

    markdown = (tmp_path / "results.md").read_text()
    jobs = 2 if study == "quantization" else 4
    assert f"Sweep `{parent}` ({jobs} jobs, {jobs} finished), started " in markdown
    assert "Device: cpu (" in markdown and "tensorflow 2." in markdown
    assert (tmp_path / "results.png").stat().st_size > 10_000
    artifacts = {f.path for f in mlflow.MlflowClient().list_artifacts(parent, "study")}
    assert artifacts == {"study/results.md", "study/results.png"}
    assert markdown in capsys.readouterr().out
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == (2 if study == "quantization" else 3)  # the header and one row per pair
    assert "custom/stock pairs: identical test accuracy." in markdown  # the sweep's verdict
    if study == "parity":  # a second time over the same folder says so first
        studies_cli.main([study, "--output", str(tmp_path)])
        overwriting = f"Overwriting {tmp_path / 'results.md'} and results.png (--output DIR"
        assert capsys.readouterr().out.startswith(overwriting)


def test_every_study_the_command_offers_is_a_preset_of_the_config():
    presets = {path.stem for path in (REPO_ROOT / "conf" / "experiment").glob("*.yaml")}
    assert set(arguments.STUDY_NAMES) <= presets
