"""What the UI shows of a job: its experiment's kind and description, its name, its model."""

import pathlib

import mlflow
import numpy as np
from helpers import compose_config, import_cli

import custom_dense
from custom_dense import CustomDense
from custom_dense_lab.tracking import names, store, ui

run_job = import_cli("custom_dense_lab.training.task").run_job

PICKLE_SUFFIXES = (".pkl", ".pickle", ".cloudpickle", ".joblib")


def test_the_experiment_gets_its_kind_and_description_and_keeps_a_users_own(tracking):
    experiment_id = store.open_experiment(tracking.experiment)
    tags = mlflow.get_experiment(experiment_id).tags
    assert tags[ui.EXPERIMENT_KIND_TAG] == "custom_model_development"
    assert tags[ui.NOTE_TAG] == ui.EXPERIMENT_DESCRIPTION
    mlflow.MlflowClient().set_experiment_tag(experiment_id, ui.NOTE_TAG, "my own notes")
    store.open_experiment(tracking.experiment)
    assert mlflow.get_experiment(experiment_id).tags[ui.NOTE_TAG] == "my own notes"


def test_links_point_at_the_ui_in_its_model_training_view():
    assert ui.run_url("sqlite:///mlflow.db", "3", "abc") == (
        "http://127.0.0.1:5000/#/experiments/3/runs/abc?workflowType=machine_learning"
    )
    assert ui.experiment_url("https://mlflow.example.org/", "3") == (
        "https://mlflow.example.org/#/experiments/3?workflowType=machine_learning"
    )
    assert ui.ui_command("https://mlflow.example.org") is None
    assert ui.ui_command("sqlite:///mlflow.db") == "`custom-dense-ui` here"
    elsewhere = ui.ui_command("sqlite:///../x/mlflow.db")
    assert elsewhere == (
        f"`custom-dense-ui --tracking-uri sqlite:///{pathlib.Path('../x/mlflow.db').resolve()}`"
    )


def test_the_console_says_where_to_look_and_warns_about_the_default_experiment(tracking, capsys):
    experiment_id = store.open_experiment(tracking.experiment)
    with mlflow.start_run(experiment_id=experiment_id) as run:
        pass
    ui.where_to_look(run.info.run_id, tracking.experiment, "this sweep")
    printed = capsys.readouterr()
    assert printed.out.splitlines()[:2] == [
        f"Experiment '{tracking.experiment}': {ui.experiment_url(tracking.uri, experiment_id)}",
        f"  this sweep: {ui.run_url(tracking.uri, experiment_id, run.info.run_id)}",
    ]
    assert (
        "custom-dense-ui --tracking-uri sqlite:///" in printed.out and "warning" not in printed.err
    )
    with mlflow.start_run(experiment_id="0") as default_run:  # where `mlflow run .` puts it
        pass
    ui.where_to_look(default_run.info.run_id, "custom-dense")
    warning = capsys.readouterr().err
    assert "warning: these runs are in MLflow's 'Default' experiment, not 'custom-dense'" in warning
    assert "mlflow run . --experiment-name custom-dense" in warning


def test_a_single_job_is_named_and_its_model_holds_the_final_metrics_and_no_pickle(tracking):
    overrides = ["model.units=16", "trainer.epochs=3", "model.depth=1"]
    config = compose_config(*overrides, f"mlflow.experiment_name={tracking.experiment}")
    assert run_job(config, overrides, in_sweep=False) is not None
    (run,) = mlflow.search_runs(experiment_names=[tracking.experiment], output_format="list")
    assert run.info.run_name == "custom u16 e3 d1"
    assert run.data.tags[names.OVERRIDES_TAG] == " ".join(overrides)

    (model,) = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id], output_format="list"
    )
    assert model.name == "custom-u16-d1-relu" and model.params["model.units"] == "16"
    assert model.tags[names.OVERRIDES_TAG] == " ".join(overrides)
    linked = {metric.key: metric for metric in model.metrics}
    assert {key: metric.value for key, metric in linked.items()} == run.data.metrics
    assert linked["val_accuracy"].step == linked["train_loss"].step == 2  # the last epoch
    # No other epoch's value is linked (the Models page would show one of them).
    assert {m.step for m in model.metrics if m.key in ("train_loss", "val_accuracy")} == {2}
    assert linked["test_accuracy"].value == run.data.metrics["test_accuracy"]

    folder = pathlib.Path(
        mlflow.artifacts.download_artifacts(f"runs:/{run.info.run_id}/{model.name}")
    )
    files = [path for path in folder.rglob("*") if path.is_file()]
    assert not [path for path in files if path.suffix in PICKLE_SUFFIXES]
    assert not [path for path in files if path.read_bytes()[:1] == b"\x80"]  # pickle's opcode
    assert (folder / "data" / "model.keras").is_file()
    meta = mlflow.models.Model.load(folder / "MLmodel")
    assert meta.flavors["python_function"]["loader_module"] == "custom_dense_pyfunc"
    # The library travels with the model, and nothing of the lab but the loader.
    shipped = {path.relative_to(folder).as_posix() for path in files}
    assert {
        "code/custom_dense_pyfunc.py",
        "library/VERSION",
        "library/custom_dense/layer.py",
    } <= shipped
    assert not [path for path in shipped if "custom_dense_lab" in path]
    assert (folder / "library" / "VERSION").read_text() == f"{custom_dense.__version__}\n"
    assert "keras" in meta.flavors

    loaded = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/{model.name}")
    probabilities = loaded.predict(np.random.rand(3, 8, 8, 1).astype("float32"))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert any(isinstance(layer, CustomDense) for layer in loaded.get_raw_model().layers)
