"""The benchmark: its statistics, FLOP count and paired measurement.

The `python -m custom_dense_lab.bench` command: tests/e2e/test_bench_cli.py.
"""

import keras
import numpy as np
import pytest
from helpers import import_cli

from custom_dense_lab import arguments
from custom_dense_lab.reports.stats import ratio_summary
from custom_dense_lab.training.models import training_matmul_flops


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


def test_a_config_is_timed_in_every_measure_for_both_layers_against_the_matmul_peak():
    grid_bench = import_cli("custom_dense_lab.benchmark.grid_bench")
    flags = ["--units", "16", "--depth", "1", "--batch-size", "32", "--rounds", "4"]
    args = arguments.bench_parser().parse_args([*flags, "--seconds-per-sample", "0.01"])
    (config,), settings = grid_bench.grid_and_settings(args)
    a = keras.ops.ones((256, 256))
    reference = (lambda: keras.ops.convert_to_numpy(keras.ops.sum(a @ a)), 2.0 * 256**3)
    row = grid_bench.measure(config, settings, reference)
    assert (row["config"], row["mlp"]) == ("u16_d1_b32", "784-16-10")
    for measure in ("train_step", "infer_batch", "infer_single"):
        assert row[f"{measure}_ms_custom"] > 0 and row[f"{measure}_ms_stock"] > 0
        assert row[f"{measure}_min"] <= row[f"{measure}_ratio"] <= row[f"{measure}_max"]
    flops = 2 * 2 * 32 * 784 * 16 + 3 * 2 * 32 * 16 * 10
    assert row["train_gflops_custom"] == pytest.approx(flops / row["train_step_ms_custom"] / 1e6)
    assert row["train_peak_fraction_custom"] == pytest.approx(
        row["train_gflops_custom"] / row["peak_gflops"]
    )


def test_an_output_dir_the_bench_cannot_write_is_refused_before_anything_is_timed(capsys):
    bench = import_cli("custom_dense_lab.bench")
    with pytest.raises(SystemExit) as stopped:
        bench.main(["--quick", "--output-dir", "/proc/1/bench"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: Invalid --output-dir='/proc/1/bench': expected a folder this process can write "
        "(/proc/1 is not writable here)."
    ]
