"""The sweep's report where users look: the parent's description, the table, the figures."""

import itertools
import json
import os
import socket

import mlflow
import numpy as np
import pytest
from helpers import import_cli, kept_process_state
from matplotlib.image import imread
from mlflow.entities import Metric, Param

from custom_dense_lab.reports import comparison, paired, runs
from custom_dense_lab.sweep.parent import SWEEP_TAG
from custom_dense_lab.tracking import lifecycle, ui

EPOCHS = 3
# Per pair (units): custom and stock step times per epoch (ms); epoch 0 is warm-up.
STEP_TIMES = {
    "16": ([9.0, 1.0, 1.1], [9.0, 1.0, 1.0]),
    "32": ([9.0, 2.0, 2.0], [9.0, 2.0, 2.5]),
}


def log_job(experiment_id, parent, params, metrics, history=None, name=None, status="FINISHED"):
    """A job of the sweep `parent`: its params, final metrics and `{key: per-epoch values}`."""
    client = mlflow.MlflowClient()
    tags = {"mlflow.parentRunId": parent}
    run = client.create_run(experiment_id, run_name=name or params["layer.name"], tags=tags)
    epochs = [
        Metric(key, value, 0, epoch)
        for key, values in (history or {}).items()
        for epoch, value in enumerate(values)
    ]
    client.log_batch(
        run.info.run_id,
        params=[Param(key, str(value)) for key, value in params.items()],
        metrics=[Metric(key, value, 0, 0) for key, value in metrics.items()] + epochs,
    )
    client.set_terminated(run.info.run_id, status=status)
    return run.info.run_id


@pytest.fixture
def sweep(tracking):
    """A parent and four finished jobs (custom and stock at 16 and 32 units), no training."""
    client = mlflow.MlflowClient()
    experiment_id = client.create_experiment(tracking.experiment)
    parent = client.create_run(experiment_id, run_name="parent").info.run_id
    jobs = {}
    for units, layer in itertools.product(STEP_TIMES, ("custom", "stock")):
        step_times = STEP_TIMES[units][layer == "stock"]
        bonus = 0.001 * (layer == "custom")  # custom u32 is the best job
        history = {
            "epoch_step_time_ms": step_times,
            "train_loss": [2.0 - epoch * 0.1 * int(units) / 16 for epoch in range(EPOCHS)],
            "val_accuracy": [epoch * (0.2 * int(units) / 16 + bonus) for epoch in range(EPOCHS)],
        }
        final = {
            "test_accuracy": 0.5 if units == "16" else 0.75,
            "step_time_ms": step_times[-1],
            "infer_latency_ms_p50": 0.25,
        }
        params = {"layer.name": layer, "model.units": units, "seed": "0"}
        name = f"{layer} u{units}"
        jobs[(layer, units)] = log_job(experiment_id, parent, params, final, history, name)
    return experiment_id, parent, jobs


def log_paired_timings(parent, jobs, step_seconds, not_timed=(), keys=None):
    """Logs `paired_timings.json` as a sweep's end does: per pair (units), seconds per round."""
    entries = []
    for units, (custom, stock) in step_seconds.items():
        entry = {"run_id_custom": jobs[("custom", units)], "run_id_stock": jobs[("stock", units)]}
        if units in not_timed:
            entry["not_timed"] = "ConfigError: the jobs ran on a GPU"
        else:
            single = {"custom": [0.25] * len(custom), "stock": [0.25] * len(stock)}
            entry["seconds"] = {
                "train_step": {"custom": custom, "stock": stock},
                "infer_batch": single,
                "infer_single": single,
            }
        entries.append(entry)
    document = {"rounds": 4, "seconds_per_sample": 0.1, "wall_s": 3.2, "stopped_by": "target"}
    document |= {"pairs": entries, **(keys or {})}
    mlflow.MlflowClient().log_text(parent, json.dumps(document), paired.TIMINGS_JSON)


# Per pair (units): custom and stock seconds of a training step, in each of 4 rounds.
PAIRED_STEPS = {"16": ([1.0] * 4, [1.0] * 4), "32": ([0.8] * 4, [1.0] * 4)}


def test_the_parent_run_tells_the_paired_verdict_in_its_description_and_metrics(sweep):
    experiment_id, parent, jobs = sweep
    log_paired_timings(parent, jobs, PAIRED_STEPS)
    comparison.log_report(parent)
    run = mlflow.get_run(parent)
    note = run.data.tags[ui.NOTE_TAG]
    headline, best_line, step_line, latency_line, how_line, *_ = note.splitlines()
    assert headline == (
        "**2 custom/stock pairs: identical test accuracy, "
        "training step time ratio 0.900 (custom / stock, timed in turns).**"
    )
    best = jobs[("custom", "32")]
    assert f"[custom u32](#/experiments/{experiment_id}/runs/{best}?{ui.VIEW_QUERY})" in best_line
    assert "val_accuracy 0.8020, test_accuracy 0.7500" in best_line
    assert step_line == (
        "- Training step time, custom / stock: 0.900 (95% interval 0.800 to 1.000, "
        "wider than ±5%: noisy)"
    )
    assert latency_line.endswith("latency of one example:   1.000 (95% interval 1.000 to 1.000)")
    assert how_line == (
        "  - timed in turns at the sweep's end, 2 of the 2 pairs; paired timing: 4 rounds in 3 s."
    )
    # The jobs' own ratios, u16 1.1 and u32 0.8, are there too, and called what they are.
    assert "median ratio 0.950, indicative only" in note
    metrics = run.data.metrics
    assert metrics["median_step_time_ratio"] == 0.9
    assert (metrics["step_time_ratio_ci_low"], metrics["step_time_ratio_ci_high"]) == (0.8, 1.0)
    assert metrics["median_sequential_step_time_ratio"] == 0.95
    assert metrics["timed_pair_count"] == 2
    assert metrics["max_abs_test_accuracy_delta"] == 0.0


def test_each_pair_gets_its_own_paired_ratio_and_a_pair_not_timed_says_why(sweep):
    _, parent, jobs = sweep
    log_paired_timings(parent, jobs, PAIRED_STEPS, not_timed=("16",))
    pairs, terminal, markdown = comparison.log_report(parent)
    by_units = pairs.set_index("model.units")
    assert np.isnan(by_units.loc["16", "step_time_ratio"])
    assert by_units.loc["16", "not_timed"] == "ConfigError: the jobs ran on a GPU"
    assert by_units.loc["32", "step_time_ratio"] == pytest.approx(0.8)
    assert by_units.loc["32", "sequential_step_time_ratio"] == pytest.approx(0.8)
    assert "1 of the 2 pairs; paired timing: 4 rounds in 3 s." in markdown
    assert (
        "Not timed in turns, with the jobs' own figures: ConfigError: the jobs ran on a GPU."
        in (markdown)
    )
    # In the tables, "—" where a figure is missing, and why; never "nan".
    for shown in (markdown, terminal):
        assert "nan" not in shown.lower()
        assert "—: not timed in turns (ConfigError: the jobs ran on a GPU)." in shown
    assert mlflow.get_run(parent).data.metrics["timed_pair_count"] == 1


def test_a_sweep_that_timed_no_pair_says_its_figures_are_sequential(sweep):
    _, parent, _ = sweep
    pairs, _, markdown = comparison.log_report(parent)
    assert pairs["step_time_ratio"].isna().all()
    note = mlflow.get_run(parent).data.tags[ui.NOTE_TAG]
    assert note.startswith("**2 custom/stock pairs: identical test accuracy, speed not timed")
    assert "Speed not timed in pairs (the sweep did not time its pairs)." in markdown
    assert "The jobs' own step times, one job after another: median ratio 0.950" in markdown
    assert "median_step_time_ratio" not in mlflow.get_run(parent).data.metrics


def test_the_pair_table_is_a_logged_table_and_a_rebuilt_report_replaces_it(sweep):
    _, parent, _ = sweep
    comparison.log_report(parent)
    comparison.log_report(parent)  # `python -m custom_dense_lab.compare` rebuilds it
    table = json.loads(mlflow.artifacts.load_text(f"runs:/{parent}/{comparison.TABLE_JSON}"))
    assert [row[:2] for row in table["data"]] == [["u16", "16"], ["u32", "32"]]
    assert table["columns"][:4] == [
        "pair",
        "model.units",
        "test_accuracy_custom",
        "test_accuracy_stock",
    ]
    logged = json.loads(mlflow.get_run(parent).data.tags["mlflow.loggedArtifacts"])
    assert {"path": comparison.TABLE_JSON, "type": "table"} in logged


def test_the_figures_are_small_and_draw_the_per_epoch_spread(sweep, tmp_path):
    _, parent, _ = sweep
    histories = runs.epoch_histories(runs.pair_runs(runs.child_runs(parent)))
    assert histories[0][("stock", "val_accuracy")][1].tolist() == pytest.approx([0.0, 0.2, 0.4])
    assert histories[1][("custom", "epoch_step_time_ms")][1].tolist() == [9.0, 2.0, 2.0]
    comparison.log_report(parent)
    for name in (comparison.COMPARISON_PNG, comparison.CURVES_PNG):
        path = mlflow.artifacts.download_artifacts(f"runs:/{parent}/{name}", dst_path=tmp_path)
        height, width, _ = imread(path).shape
        assert width == 700 and 150 < height < 500


def test_a_config_swept_twice_pairs_in_start_order_and_its_report_is_drawn(tracking):
    """`layer=custom,custom,stock`: the first custom job pairs with the stock one."""
    client = mlflow.MlflowClient()
    experiment_id = client.create_experiment(tracking.experiment)
    parent = client.create_run(experiment_id, run_name="parent").info.run_id
    started = {}
    for layer, accuracy, steps in (
        ("custom", 0.5, [9.0, 1.0, 3.0, 1.0]),
        ("custom", 0.6, [9.0, 1.0, 1.0, 1.0]),
        ("stock", 0.5, [9.0, 1.0, 2.0, 1.2]),
    ):
        final = {"test_accuracy": accuracy, "step_time_ms": 2.0 if layer == "stock" else 1.0}
        final["infer_latency_ms_p50"] = 0.25
        history = {"epoch_step_time_ms": steps}
        started.setdefault(
            layer, log_job(experiment_id, parent, {"layer.name": layer}, final, history)
        )

    pairs, _, _ = comparison.log_report(parent)

    assert len(pairs) == 1  # the second custom job has no stock job to pair with
    assert pairs.iloc[0]["run_id_custom"] == started["custom"]  # the first to start
    assert pairs.iloc[0]["test_accuracy_delta"] == 0.0
    artifacts = {a.path for a in client.list_artifacts(parent)}
    assert {"comparison.png", "learning_curves.png", "comparison.md"} <= artifacts


NAN = float("nan")
SHAPES = {
    "no jobs": [],
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
        final, history = {}, {}
        if accuracy is not None:
            final |= {"test_accuracy": accuracy, "infer_latency_ms_p50": 0.25}
        if step_ms is not None:
            final["step_time_ms"] = step_ms
            history["epoch_step_time_ms"] = [step_ms] * 3
        log_job(experiment_id, parent, {"layer.name": layer}, final, history, status=status)
    client.set_terminated(parent)

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
    assert "nan" not in captured.out.lower()
    assert f"Sweep {parent}" in captured.out
    artifacts = {a.path for a in client.list_artifacts(parent)}
    assert "comparison.md" in artifacts
    note = mlflow.get_run(parent).data.tags[ui.NOTE_TAG]
    assert paired != note.startswith(f"**{comparison.NO_PAIRS}**")


def test_quantized_pairs_get_their_own_columns_summary_and_figure(tracking):
    client = mlflow.MlflowClient()
    experiment_id = client.create_experiment(tracking.experiment)
    parent = client.create_run(experiment_id, run_name="parent").info.run_id
    for mode in ("None", "int8"):
        for layer, latency in (("custom", 0.3), ("stock", 0.2)):
            final = {"test_accuracy": 0.8, "step_time_ms": 1.0, "infer_latency_ms_p50": 0.25}
            if mode == "int8":
                final |= {
                    "quantized_test_accuracy": 0.79 if layer == "custom" else 0.78,
                    "quantized_infer_latency_ms_p50": latency,
                    "quantized_model_size_bytes": 1000.0,
                }
            log_job(experiment_id, parent, {"layer.name": layer, "quantize": mode}, final)

    pairs, _, markdown = comparison.log_report(parent)

    quantized = pairs.set_index("quantize")
    assert quantized.loc["int8", "quantized_test_accuracy_delta"] == pytest.approx(0.01)
    assert quantized.loc["int8", "quantized_infer_latency_ratio"] == pytest.approx(1.5)
    assert np.isnan(quantized.loc["None", "quantized_test_accuracy_delta"])
    summary = mlflow.get_run(parent).data
    assert summary.metrics["quantized_pair_count"] == 1
    assert summary.metrics["max_abs_quantized_test_accuracy_delta"] == pytest.approx(0.01)
    assert (
        "- Quantized models (1 of the 2 pairs): test accuracy within 0.0100, latency c/s 1.500"
        in (summary.tags[ui.NOTE_TAG])
    )
    assert "; pairs that do not quantize.\n" in markdown


def test_a_single_pair_gets_an_interval_over_its_rounds(sweep):
    _, parent, jobs = sweep
    rounds = ([1.0, 0.98, 1.02, 1.0, 0.99], [1.0] * 5)
    log_paired_timings(parent, jobs, {"16": rounds}, not_timed=())
    _, _, markdown = comparison.log_report(parent)
    metrics = mlflow.get_run(parent).data.metrics
    assert metrics["timed_pair_count"] == 1 and metrics["median_step_time_ratio"] == 1.0
    low, high = metrics["step_time_ratio_ci_low"], metrics["step_time_ratio_ci_high"]
    assert 0.98 <= low < 1.0 < high <= 1.02
    assert f"1.000 (95% interval {low:.3f} to {high:.3f})\n" in markdown


def test_the_terminal_gets_a_summary_within_100_columns_and_comparison_md_every_figure(
    tracking, capsys
):
    """A sweep over backends, widths, activations and quantization: 12 pairs, 30 columns."""
    client = mlflow.MlflowClient()
    experiment_id = client.create_experiment(tracking.experiment)
    parent = client.create_run(experiment_id, tags={SWEEP_TAG: "true"}).info.run_id
    configs = itertools.product(("tensorflow", "jax", "torch"), (64, 1024), ("relu", "tanh"))
    for backend, units, activation in configs:
        for layer in ("custom", "stock"):
            params = {"layer.name": layer, "backend": backend, "model.units": units}
            params |= {"model.activation": activation, "model.kernel_initializer": "glorot_uniform"}
            params |= {"quantize": "int8" if activation == "relu" else "float8"}
            metrics = {"test_accuracy": 0.95, "step_time_ms": 2.0, "infer_latency_ms_p50": 0.1}
            metrics |= {"quantized_test_accuracy": 0.94, "quantized_infer_latency_ms_p50": 0.2}
            size = 9936.0 if params["quantize"] == "int8" else 72780.0
            log_job(experiment_id, parent, params, metrics | {"quantized_model_size_bytes": size})
    client.set_terminated(parent)

    report = comparison.log_report(parent)

    assert max(map(len, report.terminal.splitlines())) <= 100
    header = next(line for line in report.terminal.splitlines() if line.startswith("| "))
    assert header.split("|")[2:-1] == [
        " acc. Δ ",
        " quant. Δ ",
        " step c/s ",
        " step 95% ",
        " lat. c/s ",
    ]
    for shown in (report.terminal, report.markdown):
        assert "nan" not in shown.lower() and "e+0" not in shown
    assert "—: not timed in turns (the sweep did not time its pairs)." in report.terminal
    assert " 9936 |" in report.markdown and " 72780 |" in report.markdown
    assert "TensorFlow's own pairs (the reference)" in report.markdown
    assert "\n  jax step time custom 1.00x, stock 1.00x, latency custom 1.00x, stock 1.00x" in (
        report.terminal
    )
    compare = import_cli("custom_dense_lab.compare")
    with kept_process_state():
        compare.main(["--parent", parent, "--full"])
    assert report.markdown in capsys.readouterr().out


def test_the_paired_timing_says_its_rounds_and_seconds(sweep):
    _, parent, jobs = sweep
    log_paired_timings(
        parent, jobs, PAIRED_STEPS, keys={"wall_s": 14.2, "max_rounds": 50, "stopped_by": "target"}
    )
    report = comparison.log_report(parent)
    assert (
        "\n  timed in turns at the sweep's end, 2 of the 2 pairs; paired timing: 4 rounds in 14 s.\n"
        in (report.terminal)
    )
    log_paired_timings(
        parent,
        jobs,
        PAIRED_STEPS,
        keys={"wall_s": 30.0, "max_rounds": 4, "stopped_by": "max_rounds"},
    )
    assert "paired timing: 4 rounds (the cap) in 30 s." in comparison.log_report(parent).markdown


def test_a_pair_whose_interval_is_wide_or_whose_steps_swing_is_flagged_noisy(tracking):
    client = mlflow.MlflowClient()
    experiment_id = client.create_experiment(tracking.experiment)
    parent = client.create_run(experiment_id).info.run_id
    jobs = {}
    for units, layer in itertools.product(("16", "32", "64"), ("custom", "stock")):
        swings = units == "32" and layer == "custom"  # a loaded machine, for one job
        epochs = [9.0, 3.6, 187.0, 4.0] if swings else [9.0, 2.0, 2.1, 2.0]
        params = {"layer.name": layer, "model.units": units}
        metrics = {"test_accuracy": 0.5, "step_time_ms": 2.0, "infer_latency_ms_p50": 0.25}
        jobs[(layer, units)] = log_job(
            experiment_id, parent, params, metrics, {"epoch_step_time_ms": epochs}
        )
    steady = [1.0, 1.01, 0.99, 1.0]
    log_paired_timings(
        parent,
        jobs,
        {
            "16": ([0.8, 1.2, 0.9, 1.1], [1.0] * 4),
            "32": (steady, [1.0] * 4),
            "64": (steady, [1.0] * 4),
        },
    )

    report = comparison.log_report(parent)

    assert (
        "Noisy, speed figures rough: u16 (interval ±20%); "
        "u32 (custom steps 3.6 to 187 ms over epochs)." in report.terminal
    )
    assert list(report.pairs["noisy"] == "") == [False, False, True]


def test_compare_refuses_a_sweep_that_still_runs_and_logs_nothing_on_it(tracking, capsys):
    client = mlflow.MlflowClient()
    experiment_id = client.create_experiment(tracking.experiment)
    alive = {lifecycle.HOST_TAG: socket.gethostname(), lifecycle.PID_TAG: str(os.getpid())}
    parent = client.create_run(experiment_id, tags={SWEEP_TAG: "true", **alive}).info.run_id
    compare = import_cli("custom_dense_lab.compare")
    with kept_process_state(), pytest.raises(SystemExit) as stopped:
        compare.main(["--experiment", tracking.experiment])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        f"error: sweep {parent} is still running: compare it once it ends\n"
    )
    assert client.list_artifacts(parent) == []


def test_each_quantity_of_the_figure_has_a_marker_of_its_own(tracking):
    client = mlflow.MlflowClient()
    experiment_id = client.create_experiment(tracking.experiment)
    parent = client.create_run(experiment_id).info.run_id
    for backend, layer in itertools.product(("tensorflow", "torch"), ("custom", "stock")):
        metrics = {"test_accuracy": 0.5, "step_time_ms": 2.0, "infer_latency_ms_p50": 0.25}
        log_job(
            experiment_id,
            parent,
            {"layer.name": layer, "backend": backend},
            metrics,
            {"epoch_step_time_ms": [2.0] * 3},
        )
    pairs = comparison.log_report(parent).pairs
    figure = comparison.comparison_figure(pairs)
    (legend,) = figure.legends
    markers = [handle.get_marker() for handle in legend.legend_handles]
    assert len(markers) == 6 and len(set(markers)) == 6
