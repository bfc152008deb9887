"""Study reports, rebuilt from real (small) sweeps logged in this process."""

import mlflow
import pytest
from conftest import compose_config

from custom_dense import studies
from custom_dense.job import run_job
from custom_dense.sweep import SWEEP_TAG

SMALL = ["trainer.epochs=3", "model.depth=1", "mlflow.log_model=false"]
SWEEPS = {
    "parity": [["model.units=16"], ["seed=0", "seed=1"]],
    "width": [["model.units=8", "model.units=32"]],
    "activations_initializers": [
        ["model.activation=relu", "model.activation=tanh"],
        ["model.kernel_initializer=glorot_uniform", "model.kernel_initializer=zeros"],
    ],
    "devices": [["device=cpu"], ["trainer.precision=float32", "trainer.precision=mixed_bfloat16"]],
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
    for overrides in combos:
        config = compose_config(*SMALL, *overrides, f"mlflow.experiment_name={experiment}")
        assert run_job(config, overrides, in_sweep=True, parent_run_id=parent) is not None
    client.set_terminated(parent)
    return parent


@pytest.mark.slow
@pytest.mark.parametrize("study", sorted(SWEEPS))
def test_a_study_report_is_rebuilt_from_its_latest_sweep(study, tracking_uri, tmp_path, capsys):
    parent = run_small_sweep(study)
    studies.main([study, "--output", str(tmp_path)])

    markdown = (tmp_path / "results.md").read_text()
    assert f"Sweep `{parent}`" in markdown
    assert "jobs, " in markdown and "tensorflow 2." in markdown
    assert (tmp_path / "results.png").stat().st_size > 10_000
    artifacts = {f.path for f in mlflow.MlflowClient().list_artifacts(parent, "study")}
    assert artifacts == {"study/results.md", "study/results.png"}
    assert markdown in capsys.readouterr().out
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and "---" not in line]
    expected_rows = {"parity": 2, "width": 3, "activations_initializers": 5, "devices": 3}
    assert len(rows) == expected_rows[study]  # the header and one row per config


def test_zeros_with_relu_is_reported_as_not_training(tracking_uri, tmp_path):
    parent = run_small_sweep("activations_initializers")
    summary, table, _ = studies.activations_initializers(studies.report.child_runs(parent))
    stuck = table[table["model.kernel_initializer"] == "zeros"]
    assert set(stuck["trains"]) == {"no"}
    assert set(table[table["model.kernel_initializer"] == "glorot_uniform"]["trains"]) == {"yes"}
    assert "activation=relu kernel_initializer=zeros" in summary
