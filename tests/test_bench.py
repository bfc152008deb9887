"""The benchmark: its statistics, FLOP count, paired measurement and command line."""

import csv

import keras
import mlflow
import numpy as np
import pytest
from conftest import run_module

from custom_dense.benchmark import BenchConfig, BenchSettings, MatmulReference, measure_pair
from custom_dense.flops import training_matmul_flops
from custom_dense.stats import ratio_summary


def test_ratio_summary_takes_the_median_of_paired_ratios_with_a_bootstrap_interval():
    custom = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    stock = np.array([1.0, 1.0, 3.0, 5.0, 4.0])
    summary = ratio_summary(custom, stock)
    assert summary["ratio"] == pytest.approx(1.0)
    assert summary["min"] == pytest.approx(0.8)
    assert summary["max"] == pytest.approx(2.0)
    assert summary["min"] <= summary["ci_low"] <= summary["ratio"] <= summary["ci_high"]
    assert summary["ci_high"] <= summary["max"]


def test_training_flops_count_forward_and_both_gradients_but_not_the_first_input_gradient():
    dense = keras.layers.Dense
    model = keras.Sequential([keras.Input((784,)), dense(1024), dense(1024), dense(10)])
    batch = 512
    expected = 2 * (2 * batch * 784 * 1024) + 3 * (2 * batch * 1024 * 1024)
    expected += 3 * (2 * batch * 1024 * 10)
    assert training_matmul_flops(model, batch) == expected


def test_measure_pair_times_every_measure_for_both_layers_over_every_round():
    config = BenchConfig(units=16, depth=1, batch_size=32)
    timings = measure_pair(
        config, BenchSettings(rounds=4, seconds_per_sample=0.01), MatmulReference(n=256)
    )
    for layer in ("custom", "stock"):
        for measure in ("train_step", "infer_batch", "infer_single"):
            seconds = timings[layer][measure]
            assert seconds.shape == (4,)
            assert np.all(seconds > 0)
    assert timings["peak_gflops"].shape == (4,) and np.all(timings["peak_gflops"] > 0)
    assert timings["train_flops"] == 2 * 2 * 32 * 784 * 16 + 3 * 2 * 32 * 16 * 10
    assert config.shape == "784-16-10"


@pytest.mark.slow
def test_the_bench_command_prints_the_table_and_logs_a_bench_run(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = run_module(
        "custom_dense.bench",
        "--units",
        "16,32",
        "--depth",
        "1",
        "--batch-size",
        "32",
        "--rounds",
        "3",
        "--seconds-per-sample",
        "0.02",
        "--output-dir",
        str(tmp_path / "out"),
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": uri},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "train ratio [95% CI]" in result.stdout
    assert "u32_d1_b32" in result.stdout and "784-32-10" in result.stdout
    assert "oneDNN" not in result.stderr
    mlflow.set_tracking_uri(uri)
    try:
        (run,) = mlflow.search_runs(
            experiment_names=["custom-dense"],
            filter_string="tags.kind = 'bench'",
            output_format="list",
        )
        artifacts = {f.path for f in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    finally:
        mlflow.set_tracking_uri(None)
    assert run.info.status == "FINISHED"
    assert {"bench.csv", "bench.png", "bench.txt"} <= artifacts
    for config in ("u16_d1_b32", "u32_d1_b32"):
        assert run.data.metrics[f"{config}.train_step_ratio"] > 0
        assert run.data.metrics[f"{config}.train_peak_fraction_custom"] > 0
    assert run.data.metrics["matmul_peak_gflops"] > 0
    with (tmp_path / "out" / "bench.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["config"] for row in rows] == ["u16_d1_b32", "u32_d1_b32"]


def test_the_bench_command_refuses_a_bad_grid_value(tmp_path):
    result = run_module("custom_dense.bench", "--units", "0,64", cwd=tmp_path)
    assert result.returncode == 2
    assert "argument --units: '0' is not a positive integer" in result.stderr
