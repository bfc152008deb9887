"""Study reports, rebuilt from real (small) sweeps logged in this process.

Each study's small sweep runs once, on first use, in the session's store.
"""

import itertools

import mlflow
import pytest
from helpers import compose_config, import_cli, using_store
from mlflow.entities import Metric, Param

from custom_dense_lab import arguments
from custom_dense_lab.process import backends
from custom_dense_lab.reports import paired, runs, studies
from custom_dense_lab.reports.runs import LAYERS
from custom_dense_lab.sweep.parent import SWEEP_TAG
from custom_dense_lab.training.job import run_job

SMALL = ["trainer.epochs=3", "model.depth=1", "mlflow.log_model=false"]
SWEEPS = {
    "parity": [["model.units=16"], ["seed=0", "seed=1"]],
    "width": [["model.units=8", "model.units=32"]],
    "activations_initializers": [
        ["model.activation=relu"],
        ["model.kernel_initializer=glorot_uniform", "model.kernel_initializer=zeros"],
    ],
    "devices": [["device=cpu"], ["trainer.precision=float32", "trainer.precision=mixed_bfloat16"]],
    "quantization": [["quantize=int8"], ["model.units=16"]],
    # On TensorFlow alone: a worker of another backend takes longer than all the other sweeps
    # (several backends: test_backends_are_set_against_tensorflow, tests/e2e/test_backends.py).
    "backends": [["backend=tensorflow"], ["trainer.jit_compile=false"]],
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


def pairs_of(parent):
    """The sweep's pairs with their figures, as `custom-dense-studies` reads them."""
    pairs = runs.pair_runs(runs.child_runs(parent))
    return paired.add_figures(pairs, paired.load_timings(parent))


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
    assert f"Sweep `{parent}`" in markdown
    assert "jobs, " in markdown and "tensorflow 2." in markdown
    assert (tmp_path / "results.png").stat().st_size > 10_000
    artifacts = {f.path for f in mlflow.MlflowClient().list_artifacts(parent, "study")}
    assert artifacts == {"study/results.md", "study/results.png"}
    assert markdown in capsys.readouterr().out
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and "---" not in line]
    expected_rows = {
        "parity": 2,
        "width": 3,
        "activations_initializers": 3,
        "devices": 3,
        "quantization": 2,
        "backends": 2,
    }
    assert len(rows) == expected_rows[study]  # the header and one row per config
    if study == "parity":  # a second time over the same folder says so first
        studies_cli.main([study, "--output", str(tmp_path)])
        overwriting = f"Overwriting {tmp_path / 'results.md'} and results.png (--output DIR"
        assert capsys.readouterr().out.startswith(overwriting)
    if study == "activations_initializers":  # zeros does not train, glorot_uniform does
        assert "at or below 0.3): kernel_initializer=zeros." in markdown


def log_sweep(experiment, jobs):
    """A finished sweep of finished jobs, each `(params, metrics, tags)`: its parent run id."""
    client = mlflow.MlflowClient()
    experiment_id = mlflow.set_experiment(experiment).experiment_id
    parent = client.create_run(experiment_id, tags={SWEEP_TAG: "true"}).info.run_id
    for params, metrics, tags in jobs:
        tags = {"mlflow.parentRunId": parent, **tags}
        child = client.create_run(experiment_id, tags=tags).info.run_id
        client.log_batch(
            child,
            params=[Param(key, str(value)) for key, value in params.items()],
            metrics=[Metric(key, value, 0, 0) for key, value in metrics.items()]
            + [Metric("val_accuracy", metrics["test_accuracy"], 0, epoch) for epoch in range(2)],
        )
        client.set_terminated(child)
    client.set_terminated(parent)
    return parent


def test_zeros_is_reported_as_not_training(tracking):
    """The report's reading of a sweep, from runs recorded here (the real sweep: the slow test)."""
    accuracy = {"glorot_uniform": 0.9, "zeros": 0.1}
    jobs = [
        (
            {"layer.name": layer, "model.activation": activation, "model.kernel_initializer": init},
            {"test_accuracy": accuracy[init], "step_time_ms": 1.0, "infer_latency_ms_p50": 0.1},
            {},
        )
        for layer, activation, init in itertools.product(LAYERS, ("relu", "tanh"), accuracy)
    ]
    parent = log_sweep(tracking.experiment, jobs)

    words, table, _ = studies.report("activations_initializers", pairs_of(parent))
    assert list(table["test_accuracy_custom"]) == [0.9, 0.1, 0.9, 0.1]
    assert words.endswith(
        "near chance (test accuracy at or below 0.3): activation=relu kernel_initializer=zeros, "
        "activation=tanh kernel_initializer=zeros."
    )
    assert "Best test accuracy 0.9000 (activation=relu kernel_initializer=glorot_uniform)" in words
    provenance = studies.provenance(parent, runs.child_runs(parent))
    assert provenance.startswith(f"Sweep `{parent}` (8 jobs, 8 finished)")


def test_backends_are_set_against_tensorflow_and_the_fastest_is_named(tracking):
    step_ms = {("tensorflow", 64): 2.0, ("jax", 64): 1.0, ("tensorflow", 256): 4.0}
    step_ms |= {("jax", 256): 8.0}
    jobs = [
        (
            {"layer.name": layer, "backend": backend, "model.units": units},
            {"test_accuracy": 0.9, "step_time_ms": ms, "infer_latency_ms_p50": 0.1}
            | {"train_gflops": 1.0},
            {"jit_compile": "true"},
        )
        for (backend, units), ms in step_ms.items()
        for layer in LAYERS
    ]
    parent = log_sweep(tracking.experiment, jobs)

    words, table, figure = studies.report("backends", pairs_of(parent))
    ratios = table.set_index(["backend", "model.units"])["step_time_vs_tensorflow_custom"]
    assert ratios[("jax", 64)] == 0.5 and ratios[("jax", 256)] == 2.0
    assert ratios[("tensorflow", 64)] != ratios[("tensorflow", 64)]  # NaN: the reference
    assert "fastest training step 1 ms (backend=jax units=64, the jobs' own)" in words
    assert [text.get_text() for text in figure.axes[0].get_legend().get_texts()] == [
        "backend=jax custom",
        "backend=jax stock",
        "backend=tensorflow custom",
        "backend=tensorflow stock",
    ]


def test_the_studies_command_offers_every_study_and_no_other():
    assert tuple(studies.STUDIES) == arguments.STUDY_NAMES == tuple(SWEEPS)
