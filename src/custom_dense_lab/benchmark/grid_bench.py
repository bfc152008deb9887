"""The work of `custom-dense-bench`: its grid timed pair by pair, in one run, and the table.

Importing this module loads TensorFlow and Keras, quietly (`quiet_start`):
the program imports it once its arguments and the tracking store are checked.
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

from custom_dense import CustomDense
from custom_dense_lab import arguments
from custom_dense_lab.benchmark import pairs, summary
from custom_dense_lab.benchmark.timing import MatmulReference
from custom_dense_lab.errors import ConfigError, Interrupted
from custom_dense_lab.process import signals
from custom_dense_lab.tracking import lifecycle, records
from custom_dense_lab.training.devices import resolve_device
from custom_dense_lab.training.flops import training_matmul_flops
from custom_dense_lab.training.models import build_mlp

# Bench MLPs take MNIST-sized inputs and have 10 classes.
INPUT_DIM = 784
NUM_CLASSES = 10


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
    """How each config is timed.

    Args:
        rounds: Timed rounds; each times custom and stock once.
        steps_per_execution: Training steps per call of TensorFlow's train
            function (1 on the other backends, which train batch by batch).
        seconds_per_sample: Target duration of one timed sample.
        jit_compile: Keras `jit_compile` of both models.
        seed: Seed of the weights and the data.
    """

    rounds: int = 15
    steps_per_execution: int = 10
    seconds_per_sample: float = 0.2
    jit_compile: bool | str = "auto"
    seed: int = 0


def run_bench(args, experiment_id):
    """Times the grid of `args` in a new run of the experiment, prints the table and logs it.

    Exits 2 where the device cannot be used; 130 or 143 when SIGINT or SIGTERM
    stopped it, its run then KILLED.

    Args:
        args: The bench's parsed arguments (see `arguments.bench_parser`).
        experiment_id: The experiment of the run, checked by the program.
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
    """The configs to time and how, from the flags (the quick or full preset, then flags)."""
    preset = arguments.QUICK if args.quick else arguments.FULL
    configs = [
        BenchConfig(units, depth, batch_size)
        for units, depth, batch_size in itertools.product(
            args.units or preset["units"],
            args.depth or preset["depth"],
            args.batch_size or preset["batch_size"],
        )
    ]
    jit = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    settings = BenchSettings(
        rounds=args.rounds or preset["rounds"],
        steps_per_execution=args.steps_per_execution,
        seconds_per_sample=args.seconds_per_sample or preset["seconds"],
        jit_compile=jit,
    )
    return configs, settings


def measure_pair(config, settings, reference):
    """Times training and inference of a custom and a stock model of one config, in turns.

    Returns:
        `{layer: {measure: per-round seconds}}`, `train_flops` (the matmul
        FLOPs of one training step) and `peak_gflops` (the reference's rate
        in each training round).
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
    clock = pairs.PairClock(pair, settings.seconds_per_sample, reference=reference)
    seconds = clock.time(settings.rounds)
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


def _bench(configs, settings, args, placement):
    """Times every config's pair, then prints and logs the table in the active run."""
    mlflow.set_tags(
        {"kind": "bench", **records.environment_tags("custom,stock", placement, placement.kind)}
    )
    mlflow.log_params(_params(configs, settings, args))
    reference = MatmulReference()
    print(
        f"Timing {len(configs)} configs on {placement.name} ({placement.kind}), "
        f"Keras backend {keras.config.backend()}",
        flush=True,
    )
    rows = []
    for index, config in enumerate(configs, start=1):
        print(f"[{index}/{len(configs)}] {config.name} ({config.shape}) ...", flush=True)
        timings = measure_pair(config, settings, reference)
        rows.append(summary.result_row(config, timings))
    results = pd.DataFrame(rows)
    table = summary.to_table(results)
    print(table)
    _log_results(results, table, args.output_dir)


def _params(configs, settings, args):
    return {
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


def _log_results(results, table, output_dir):
    metrics = summary.summary_metrics(results)
    for row in results.to_dict("records"):
        for key, value in row.items():
            if isinstance(value, float):
                metrics[f"{row['config']}.{key}"] = value
    mlflow.log_metrics(metrics)
    figure = summary.plot(results)
    mlflow.log_text(table + "\n", "bench.txt")
    with tempfile.TemporaryDirectory() as scratch:
        folder = output_dir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        results.to_csv(folder / "bench.csv", index=False)
        figure.savefig(folder / "bench.png", dpi=110)
        mlflow.log_artifact(str(folder / "bench.csv"))
        mlflow.log_artifact(str(folder / "bench.png"))
