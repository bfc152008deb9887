"""The sweep's report where users look: the parent's description, the table, the figures."""

import json

import mlflow
import numpy as np
import pytest
from helpers import import_cli, kept_process_state
from matplotlib.image import imread

from custom_dense_lab.reports import comparison
from custom_dense_lab.sweep.parent import SWEEP_TAG
from custom_dense_lab.tracking import ui

EPOCHS = 3
# Per pair (units): custom and stock step times per epoch (ms); epoch 0 is warm-up.
STEP_TIMES = {
    "16": ([9.0, 1.0, 1.1], [9.0, 1.0, 1.0]),
    "32": ([9.0, 2.0, 2.0], [9.0, 2.0, 2.5]),
}


@pytest.fixture
def sweep(tracking):
    """A parent and four finished jobs (custom and stock at 16 and 32 units), no training."""
    client = mlflow.MlflowClient()
    experiment_id = client.create_experiment(tracking.experiment)
    parent = client.create_run(experiment_id, run_name="parent").info.run_id
    jobs = {}
    for units, layer in ((u, layer) for u in STEP_TIMES for layer in ("custom", "stock")):
        tags = {"mlflow.parentRunId": parent}
        run_id = client.create_run(experiment_id, run_name=f"{layer} u{units}", tags=tags)
        run_id = run_id.info.run_id
        for key, value in {"layer.name": layer, "model.units": units, "seed": "0"}.items():
            client.log_param(run_id, key, value)
        step_times = STEP_TIMES[units][layer == "stock"]
        for epoch in range(EPOCHS):
            client.log_metric(run_id, "epoch_step_time_ms", step_times[epoch], step=epoch)
            client.log_metric(run_id, "train_loss", 2.0 - epoch * 0.1 * int(units) / 16, step=epoch)
            bonus = 0.001 * epoch * (layer == "custom")  # custom u32 is the best job
            client.log_metric(
                run_id, "val_accuracy", 0.2 * epoch * int(units) / 16 + bonus, step=epoch
            )
        final = {
            "test_accuracy": 0.5 if units == "16" else 0.75,
            "step_time_ms": step_times[-1],
            "infer_latency_ms_p50": 0.25,
        }
        for key, value in final.items():
            client.log_metric(run_id, key, value)
        client.set_terminated(run_id)
        jobs[(layer, units)] = run_id
    return experiment_id, parent, jobs


def test_the_parent_run_tells_the_result_in_its_description_and_metrics(sweep):
    experiment_id, parent, jobs = sweep
    comparison.log_report(parent)
    run = mlflow.get_run(parent)
    note = run.data.tags[ui.NOTE_TAG]
    headline, best_line, step_line, *_ = note.splitlines()
    assert headline == (
        "**2 custom/stock pairs: identical test accuracy, "
        "training step time ratio 0.950 (custom / stock).**"
    )
    best = jobs[("custom", "32")]
    assert f"[custom u32](#/experiments/{experiment_id}/runs/{best}?{ui.VIEW_QUERY})" in best_line
    assert "val_accuracy 0.8020, test_accuracy 0.7500" in best_line
    assert "median of the pairs 0.950 (95% interval 0.800 to 1.100; min 0.800" in step_line
    assert "the machine was too noisy to tell" in step_line  # wider than ±5%
    assert "one after the other" in step_line and "custom-dense-bench" in step_line
    assert run.data.metrics["median_step_time_ratio"] == 0.95
    assert run.data.metrics["step_time_ratio_ci_low"] == 0.8
    assert run.data.metrics["max_abs_test_accuracy_delta"] == 0.0


def test_the_pair_table_is_a_logged_table_and_a_rebuilt_report_replaces_it(sweep):
    _, parent, _ = sweep
    comparison.log_report(parent)
    comparison.log_report(parent)  # `python -m custom_dense_lab.compare` rebuilds it
    table = json.loads(mlflow.artifacts.load_text(f"runs:/{parent}/{comparison.TABLE_JSON}"))
    assert [row[0] for row in table["data"]] == ["u16", "u32"]
    assert table["columns"][:5] == [
        "pair",
        "test_accuracy_custom",
        "test_accuracy_stock",
        "test_accuracy_delta",
        "step_time_ratio",
    ]
    logged = json.loads(mlflow.get_run(parent).data.tags["mlflow.loggedArtifacts"])
    assert {"path": comparison.TABLE_JSON, "type": "table"} in logged


def test_the_figures_are_small_and_draw_the_per_epoch_spread(sweep, tmp_path):
    _, parent, _ = sweep
    pairs = comparison.pair_runs(comparison.child_runs(parent))
    histories = comparison.epoch_histories(pairs)
    assert [comparison.step_spread(curves) for curves in histories] == [
        pytest.approx((1.0, 1.1)),
        pytest.approx((0.8, 1.0)),
    ]
    assert histories[0][("stock", "val_accuracy")][1].tolist() == pytest.approx([0.0, 0.2, 0.4])
    comparison.log_report(parent)
    for name in (comparison.COMPARISON_PNG, comparison.CURVES_PNG):
        path = mlflow.artifacts.download_artifacts(f"runs:/{parent}/{name}", dst_path=tmp_path)
        height, width, _ = imread(path).shape
        assert width == 700 and 150 < height < 500


def test_a_sweep_without_pairs_says_so(tracking):
    client = mlflow.MlflowClient()
    parent = client.create_run(client.create_experiment(tracking.experiment)).info.run_id
    comparison.log_report(parent)
    note = mlflow.get_run(parent).data.tags[ui.NOTE_TAG]
    assert note.startswith(f"**{comparison.NO_PAIRS}**")


def test_a_config_swept_twice_pairs_in_start_order_and_its_report_is_drawn(tracking):
    """`layer=custom,custom,stock` and a step ratio outside its per-epoch range (the median
    of a run's steps against the other's is not the median of per-epoch ratios)."""
    client = mlflow.MlflowClient()
    experiment_id = client.create_experiment(tracking.experiment)
    parent = client.create_run(experiment_id, run_name="parent").info.run_id
    started = {}
    for layer, accuracy, steps in (
        ("custom", 0.5, [9.0, 1.0, 3.0, 1.0]),
        ("custom", 0.6, [9.0, 1.0, 1.0, 1.0]),
        ("stock", 0.5, [9.0, 1.0, 2.0, 1.2]),
    ):
        tags = {"mlflow.parentRunId": parent}
        run = client.create_run(experiment_id, run_name=layer, tags=tags).info.run_id
        client.log_param(run, "layer.name", layer)
        for epoch, step in enumerate(steps):
            client.log_metric(run, "epoch_step_time_ms", step, step=epoch)
        final = {"test_accuracy": accuracy, "step_time_ms": 2.0 if layer == "stock" else 1.0}
        for key, value in {**final, "infer_latency_ms_p50": 0.25}.items():
            client.log_metric(run, key, value)
        client.set_terminated(run)
        started.setdefault(layer, run)

    pairs, _ = comparison.log_report(parent)

    assert len(pairs) == 1  # the second custom job has no stock job to pair with
    assert pairs.iloc[0]["run_id_custom"] == started["custom"]  # the first to start
    assert pairs.iloc[0]["test_accuracy_delta"] == 0.0
    artifacts = {a.path for a in client.list_artifacts(parent)}
    assert {"comparison.png", "learning_curves.png", "comparison.md"} <= artifacts


NAN = float("nan")
SHAPES = {
    "one layer only": [("custom", "FINISHED", 0.5, 1.0), ("custom", "FINISHED", 0.6, 1.1)],
    "stock only": [("stock", "FINISHED", 0.5, 1.0)],
    "a single pair": [("custom", "FINISHED", 0.5, 1.0), ("stock", "FINISHED", 0.5, 1.2)],
    "NaN metrics": [("custom", "FINISHED", NAN, NAN), ("stock", "FINISHED", 0.5, 1.2)],
    "a failed job": [("custom", "FAILED", None, None), ("stock", "FINISHED", 0.5, 1.2)],
    "only failed jobs": [("custom", "FAILED", None, None), ("stock", "KILLED", None, None)],
    "a duplicate of each": [
        ("custom", "FINISHED", 0.5, 1.0),
        ("stock", "FINISHED", 0.5, 1.2),
        ("custom", "FINISHED", 0.5, 1.0),
        ("stock", "FAILED", None, None),
    ],
    "no epochs logged": [("custom", "FINISHED", 0.5, None), ("stock", "FINISHED", 0.5, None)],
}


@pytest.mark.parametrize("shape", SHAPES)
def test_compare_reports_on_every_shape_of_sweep_without_a_traceback(tracking, shape, capsys):
    compare = import_cli("custom_dense_lab.compare")
    client = mlflow.MlflowClient()
    experiment_id = client.create_experiment(tracking.experiment)
    parent = client.create_run(experiment_id, run_name="parent").info.run_id
    client.set_tag(parent, SWEEP_TAG, "true")
    for layer, status, accuracy, step_ms in SHAPES[shape]:
        tags = {"mlflow.parentRunId": parent}
        run = client.create_run(experiment_id, run_name=layer, tags=tags).info.run_id
        client.log_param(run, "layer.name", layer)
        if accuracy is not None:
            client.log_metric(run, "test_accuracy", accuracy)
            client.log_metric(run, "infer_latency_ms_p50", 0.25)
        if step_ms is not None:
            client.log_metric(run, "step_time_ms", step_ms)
            for epoch in range(3):
                client.log_metric(run, "epoch_step_time_ms", step_ms, step=epoch)
        client.set_terminated(run, status=status)

    status = 0
    with kept_process_state():
        try:
            compare.main(["--parent", parent, "--experiment", tracking.experiment])
        except SystemExit as stop:
            status = stop.code
    captured = capsys.readouterr()

    paired = shape in ("a single pair", "NaN metrics", "a duplicate of each", "no epochs logged")
    assert status == (0 if paired else 1), captured.err
    assert "Traceback" not in captured.err + captured.out
    assert f"Sweep {parent}" in captured.out
    artifacts = {a.path for a in client.list_artifacts(parent)}
    assert "comparison.md" in artifacts
    assert mlflow.get_run(parent).data.tags[ui.NOTE_TAG]


def test_quantized_pairs_get_their_own_columns_summary_and_figure(tracking):
    client = mlflow.MlflowClient()
    experiment_id = client.create_experiment(tracking.experiment)
    parent = client.create_run(experiment_id, run_name="parent").info.run_id
    for mode in ("None", "int8"):
        for layer, latency in (("custom", 0.3), ("stock", 0.2)):
            tags = {"mlflow.parentRunId": parent}
            run = client.create_run(experiment_id, run_name=layer, tags=tags).info.run_id
            client.log_param(run, "layer.name", layer)
            client.log_param(run, "quantize", mode)
            final = {"test_accuracy": 0.8, "step_time_ms": 1.0, "infer_latency_ms_p50": 0.25}
            if mode == "int8":
                final |= {
                    "quantized_test_accuracy": 0.79 if layer == "custom" else 0.78,
                    "quantized_infer_latency_ms_p50": latency,
                    "quantized_model_size_bytes": 1000.0,
                }
            for key, value in final.items():
                client.log_metric(run, key, value)
            client.set_terminated(run)

    pairs, markdown = comparison.log_report(parent)

    quantized = pairs.set_index("quantize")
    assert quantized.loc["int8", "quantized_test_accuracy_delta"] == pytest.approx(0.01)
    assert quantized.loc["int8", "quantized_infer_latency_ratio"] == pytest.approx(1.5)
    assert np.isnan(quantized.loc["None", "quantized_test_accuracy_delta"])
    summary = mlflow.get_run(parent).data
    assert summary.metrics["quantized_pair_count"] == 1
    assert summary.metrics["max_abs_quantized_test_accuracy_delta"] == pytest.approx(0.01)
    assert "Quantized models (1 of the pairs)" in summary.tags[ui.NOTE_TAG]
    assert "Quantized pairs: 1" in markdown


def test_a_single_pair_gets_no_interval_made_from_one_number(tracking):
    client = mlflow.MlflowClient()
    experiment_id = client.create_experiment(tracking.experiment)
    parent = client.create_run(experiment_id, run_name="parent").info.run_id
    for layer, step_ms in (("custom", 0.849), ("stock", 1.0)):
        tags = {"mlflow.parentRunId": parent}
        run = client.create_run(experiment_id, run_name=layer, tags=tags).info.run_id
        client.log_param(run, "layer.name", layer)
        for key, value in {"test_accuracy": 0.8, "step_time_ms": step_ms}.items():
            client.log_metric(run, key, value)
        client.log_metric(run, "infer_latency_ms_p50", 0.25)
        client.set_terminated(run)

    _, markdown = comparison.log_report(parent)

    assert "0.849 (one pair: no interval)" in markdown
    assert "interval 0.849 to 0.849" not in markdown
    metrics = mlflow.get_run(parent).data.metrics
    assert "step_time_ratio_ci_low" not in metrics and metrics["median_step_time_ratio"] == 0.849
