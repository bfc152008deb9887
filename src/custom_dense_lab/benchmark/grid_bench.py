"""The work of `custom-dense-bench`: its grid timed pair by pair in one run, the table and the plot.

Importing this module loads TensorFlow and Keras, quietly: the program imports
it once its arguments and the tracking store are checked.
"""

from custom_dense_lab.process.startup import quiet_start

quiet_start()


import dataclasses
import itertools
import sys
import tempfile
import time
from pathlib import Path

import keras
import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from custom_dense import CustomDense
from custom_dense_lab import arguments
from custom_dense_lab.benchmark import pairs
from custom_dense_lab.benchmark.timing import MatmulReference
from custom_dense_lab.errors import ConfigError, Interrupted
from custom_dense_lab.process import signals
from custom_dense_lab.reports.stats import ratio_summary
from custom_dense_lab.tracking import lifecycle, records
from custom_dense_lab.training.devices import resolve_device
from custom_dense_lab.training.flops import training_matmul_flops
from custom_dense_lab.training.models import build_mlp

INPUT_DIM = 784  # MNIST-sized inputs, 10 classes
NUM_CLASSES = 10
_TITLES = {
    "train_step": "training step",
    "infer_batch": "batched inference",
    "infer_single": "single-sample inference",
}


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """One MLP of the grid: `depth` hidden layers of `units`, trained on batches of `batch_size`."""

    units: int
    depth: int
    batch_size: int

    @property
    def name(self):
        return f"u{self.units}_d{self.depth}_b{self.batch_size}"

    @property
    def shape(self):
        """The MLP as layer widths, e.g. `784-1024-1024-10`."""
        return "-".join(str(n) for n in (INPUT_DIM, *[self.units] * self.depth, NUM_CLASSES))


@dataclasses.dataclass(frozen=True)
class BenchSettings:
    """How each config is timed: rounds, TensorFlow's steps per call, a sample's seconds, XLA, seed."""

    rounds: int = 15
    steps_per_execution: int = 10
    seconds_per_sample: float = 0.2
    jit_compile: bool | str = "auto"
    seed: int = 0


def run_bench(args, experiment_id):
    """Times the grid of `args` in a new run, prints the table and logs it.

    Exits 2 where the device cannot be used; 130 or 143 when a stop signal
    ended it, its run then KILLED.
    """
    configs, settings = grid_and_settings(args)
    try:
        placement = resolve_device(args.device)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    signals.raise_on_stop_signals()
    started = time.perf_counter()
    try:
        run = mlflow.start_run(experiment_id=experiment_id, run_name="bench")
        with keras.device(placement.spec), signals.stops_at_checkpoints():
            _bench(configs, settings, args, placement)
        mlflow.log_metric("bench_time_s", time.perf_counter() - started)
        mlflow.end_run()
    except (Interrupted, KeyboardInterrupt) as stop:
        interrupted = Interrupted.from_exception(stop)
        if mlflow.active_run():
            lifecycle.end_active_run("KILLED", str(interrupted))
        print(f"error: {interrupted}", file=sys.stderr)
        sys.exit(interrupted.exit_status)
    except BaseException as error:
        if mlflow.active_run():
            lifecycle.end_active_run("FAILED", lifecycle.describe_error(error))
        raise
    finally:
        signals.exit_on_stop_signals("after the benchmark had ended")
    print(f"MLflow run {run.info.run_id} (experiment {experiment_id})")


def grid_and_settings(args):
    """The configs to time and how: the quick or full preset, then the flags."""
    preset = arguments.QUICK if args.quick else arguments.FULL
    configs = [
        BenchConfig(*values)
        for values in itertools.product(
            args.units or preset["units"],
            args.depth or preset["depth"],
            args.batch_size or preset["batch_size"],
        )
    ]
    settings = BenchSettings(
        rounds=args.rounds or preset["rounds"],
        steps_per_execution=args.steps_per_execution,
        seconds_per_sample=args.seconds_per_sample or preset["seconds"],
        jit_compile={"auto": "auto", "true": True, "false": False}[args.jit_compile],
    )
    return configs, settings


def measure_pair(config, settings, reference):
    """Times training and inference of a custom and a stock model of one config, in turns.

    Returns:
        `{layer: {measure: per-round seconds}}`, `train_flops` (the matmul
        FLOPs of a training step) and `peak_gflops` (the reference's rate in
        each training round).
    """
    rng = np.random.default_rng(settings.seed)
    x = rng.random((config.batch_size, INPUT_DIM), dtype=np.float32)
    y = rng.integers(0, NUM_CLASSES, size=config.batch_size)
    classes = {"custom": CustomDense, "stock": keras.layers.Dense}

    def build(layer):
        model = build_mlp(classes[layer], (INPUT_DIM,), NUM_CLASSES, config.units, config.depth)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=1e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(),
            steps_per_execution=steps_per_execution(settings),
            jit_compile=settings.jit_compile,
        )
        return model

    pair = pairs.paired_models(build, settings.seed, pairs.training_data(x, y), x)
    seconds = pairs.PairClock(pair, settings.seconds_per_sample, reference=reference).time(
        settings.rounds
    )
    timings = {
        layer: {measure: np.asarray(seconds[measure][layer]) for measure in pairs.MEASURES}
        for layer in pairs.LAYERS
    }
    timings["peak_gflops"] = reference.flops / np.asarray(seconds["train_step"]["reference"]) / 1e9
    timings["train_flops"] = training_matmul_flops(pair.models["custom"], config.batch_size)
    return timings


def steps_per_execution(settings):
    """The settings' steps per call on TensorFlow; 1 elsewhere."""
    return settings.steps_per_execution if keras.config.backend() == "tensorflow" else 1


def result_row(config, timings):
    """One config's figures: per measure the median ms and the custom / stock ratio; GFLOP/s."""
    peak = float(np.median(timings["peak_gflops"]))
    row = {"config": config.name, "mlp": config.shape, "batch_size": config.batch_size}
    row["peak_gflops"] = peak
    for measure in pairs.MEASURES:
        custom, stock = timings["custom"][measure], timings["stock"][measure]
        row[f"{measure}_ms_custom"] = float(np.median(custom) * 1000.0)
        row[f"{measure}_ms_stock"] = float(np.median(stock) * 1000.0)
        for key, value in ratio_summary(custom, stock).items():
            row[f"{measure}_{key}"] = value
    for layer in pairs.LAYERS:
        gflops = timings["train_flops"] / np.median(timings[layer]["train_step"]) / 1e9
        row[f"train_gflops_{layer}"] = float(gflops)
        row[f"train_peak_fraction_{layer}"] = float(gflops / peak)
    return row


# The terminal table: a header, the width and the format of each cell.
_COLUMNS = (
    ("config", "<15", "{row.config}"),
    ("MLP", "<17", "{row.mlp}"),
    (
        "train step ms, custom / stock",
        ">29",
        "{row.train_step_ms_custom:.3f} / {row.train_step_ms_stock:.3f}",
    ),
    (
        "train ratio [95% interval]",
        ">26",
        "{row.train_step_ratio:.3f} [{row.train_step_ci_low:.3f}, {row.train_step_ci_high:.3f}]",
    ),
    ("batch inference ratio", ">21", "{row.infer_batch_ratio:.3f}"),
    ("one-sample inference ratio", ">26", "{row.infer_single_ratio:.3f}"),
    ("train GFLOP/s", ">13", "{row.train_gflops_custom:.1f}"),
    ("matmul peak GFLOP/s", ">19", "{row.peak_gflops:.0f}"),
    ("share of peak", ">13", "{row.train_peak_fraction_custom:.0%}"),
)
TABLE_NOTES = (
    "ratio: custom time / stock time in each round, median over the rounds (1.000: the same "
    "speed), with its bootstrap 95% interval. It is not the quotient of the two median times, "
    "which each carry the machine's drift between rounds; the per-round ratio cancels it.",
    "train GFLOP/s: the custom model's training step (the dense layers' matmul FLOPs over its "
    "median time); matmul peak: a 2048x2048 float32 matmul timed in the same rounds; share of "
    "peak: the first over the second.",
)


def to_table(results):
    """The results as a fixed-width text table, with its definitions."""
    lines = [" ".join(f"{title:{width}}" for title, width, _ in _COLUMNS)]
    for row in results.itertuples(index=False):
        lines.append(" ".join(f"{cell.format(row=row):{width}}" for _, width, cell in _COLUMNS))
    return "\n".join([*lines, *TABLE_NOTES])


def plot(results):
    """Each measure's ratio with its 95% interval; training GFLOP/s against the matmul peak."""
    figure = Figure(figsize=(max(7, 0.9 * len(results) + 3), 8))
    ratio_axis, gflops_axis = figure.subplots(2, 1, sharex=True)
    positions = np.arange(len(results))
    markers = zip((-0.2, 0.0, 0.2), "os^", _TITLES.items(), strict=True)
    for offset, marker, (measure, title) in markers:
        ratio = results[f"{measure}_ratio"]
        errors = [ratio - results[f"{measure}_ci_low"], results[f"{measure}_ci_high"] - ratio]
        ratio_axis.errorbar(
            positions + offset, ratio, yerr=errors, fmt=marker, capsize=3, label=title
        )
    ratio_axis.axhline(1.0, color="black", linewidth=0.8)
    ratio_axis.axhspan(0.98, 1.02, color="grey", alpha=0.15, label="1.00 ± 0.02")
    ratio_axis.set_ylabel("custom / stock time")
    ratio_axis.set_title("CustomDense against Dense: median ratio, 95% bootstrap interval")
    ratio_axis.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    width = 0.35
    gflops_axis.bar(positions - width / 2, results["train_gflops_custom"], width, label="custom")
    gflops_axis.bar(positions + width / 2, results["train_gflops_stock"], width, label="stock")
    gflops_axis.plot(positions, results["peak_gflops"], "r_", markersize=20, label="matmul peak")
    gflops_axis.set_ylabel("training GFLOP/s")
    gflops_axis.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    gflops_axis.set_xticks(positions, results["config"], rotation=30, ha="right")
    figure.tight_layout()
    return figure


def _bench(configs, settings, args, placement):
    mlflow.set_tags(
        {"kind": "bench", **records.environment_tags("custom,stock", placement, placement.kind)}
    )
    mlflow.log_params(
        {
            "units": ",".join(str(u) for u in sorted({c.units for c in configs})),
            "depth": ",".join(str(d) for d in sorted({c.depth for c in configs})),
            "batch_size": ",".join(str(b) for b in sorted({c.batch_size for c in configs})),
            "rounds": settings.rounds,
            "steps_per_execution": steps_per_execution(settings),
            "seconds_per_sample": settings.seconds_per_sample,
            "jit_compile": settings.jit_compile,
            "device": args.device,
            "backend": keras.config.backend(),
            "quick": args.quick,
        }
    )
    reference = MatmulReference()
    print(
        f"Timing {len(configs)} configs on {placement.name} ({placement.kind}), "
        f"Keras backend {keras.config.backend()}",
        flush=True,
    )
    rows = []
    for index, config in enumerate(configs, start=1):
        print(f"[{index}/{len(configs)}] {config.name} ({config.shape}) ...", flush=True)
        rows.append(result_row(config, measure_pair(config, settings, reference)))
    results = pd.DataFrame(rows)
    table = to_table(results)
    print(table)
    metrics = {
        "matmul_peak_gflops": float(results["peak_gflops"].median()),
        **{f"median_{m}_ratio": float(results[f"{m}_ratio"].median()) for m in pairs.MEASURES},
        "max_train_peak_fraction": float(results["train_peak_fraction_custom"].max()),
    }
    for row in rows:
        metrics.update({f"{row['config']}.{k}": v for k, v in row.items() if isinstance(v, float)})
    mlflow.log_metrics(metrics)
    mlflow.log_text(table + "\n", "bench.txt")
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.output_dir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        results.to_csv(folder / "bench.csv", index=False)
        plot(results).savefig(folder / "bench.png", dpi=110)
        mlflow.log_artifact(str(folder / "bench.csv"))
        mlflow.log_artifact(str(folder / "bench.png"))
