"""The work of `custom-dense-bench`: its grid timed pair by pair, in one run, and the table.

Importing this module loads TensorFlow and Keras, quietly (`quiet_start`):
the program imports it once its arguments and the tracking store are checked.
"""

from custom_dense_lab.process.startup import quiet_start

quiet_start()


import itertools
import sys
import tempfile
import time
from pathlib import Path

import keras
import mlflow
import pandas as pd

from custom_dense_lab import arguments
from custom_dense_lab.benchmark import summary
from custom_dense_lab.benchmark.pairing import (
    BenchConfig,
    BenchSettings,
    MatmulReference,
    measure_pair,
    steps_per_execution,
)
from custom_dense_lab.errors import ConfigError, Interrupted
from custom_dense_lab.process import signals
from custom_dense_lab.tracking import lifecycle, records
from custom_dense_lab.training.devices import resolve_device


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
