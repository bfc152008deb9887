"""`custom-dense-bench`'s work, once its input is checked (importing it loads TensorFlow)."""

from custom_dense_lab.process.startup import quiet_start

quiet_start()

import itertools
import sys
import time
from types import SimpleNamespace

import keras
import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from custom_dense import CustomDense
from custom_dense_lab import arguments
from custom_dense_lab.benchmark import timing
from custom_dense_lab.errors import Interrupted
from custom_dense_lab.process import signals
from custom_dense_lab.reports.runs import LAYERS
from custom_dense_lab.reports.stats import ratio_summary
from custom_dense_lab.tracking import lifecycle, records
from custom_dense_lab.training.models import build_mlp, resolve_device, training_matmul_flops

INPUT_DIM, NUM_CLASSES, GRID = 784, 10, ("units", "depth", "batch_size")  # MNIST-sized
CELLS = {
    "config": "{config}",
    "MLP": "{mlp}",
    "train step ms, custom / stock": "{train_step_ms_custom:.3f} / {train_step_ms_stock:.3f}",
    "train ratio [95% interval]": (
        "{train_step_ratio:.3f} [{train_step_ci_low:.3f}, {train_step_ci_high:.3f}]"
    ),
    "batch inference ratio": "{infer_batch_ratio:.3f}",
    "one-sample inference ratio": "{infer_single_ratio:.3f}",
    "train GFLOP/s": "{train_gflops_custom:.1f}",
    "matmul peak GFLOP/s": "{peak_gflops:.0f}",
    "share of peak": "{train_peak_fraction_custom:.0%}",
}
TABLE_NOTES = (
    "ratio: custom time / stock time in each round, median over the rounds (1.000: the same "
    "speed), with its bootstrap 95% interval. It is not the quotient of the two median times, "
    "which each carry the machine's drift between rounds; the per-round ratio cancels it.",
    "train GFLOP/s: the custom model's training step (the dense layers' matmul FLOPs over its "
    "median time); matmul peak: a 2048x2048 float32 matmul timed in the same rounds; share of "
    "peak: the first over the second.",
)


def grid_and_settings(args):
    preset, configs = arguments.QUICK if args.quick else arguments.FULL, []
    for u, d, b in itertools.product(*(getattr(args, key) or preset[key] for key in GRID)):
        name, shape = f"u{u}_d{d}_b{b}", "-".join(map(str, (INPUT_DIM, *[u] * d, NUM_CLASSES)))
        configs.append(SimpleNamespace(units=u, depth=d, batch_size=b, name=name, shape=shape))
    tensorflow = keras.config.backend() == "tensorflow"  # steps per execution: TensorFlow's only
    settings = SimpleNamespace(
        rounds=args.rounds or preset["rounds"],
        steps_per_execution=args.steps_per_execution if tensorflow else 1,
        seconds_per_sample=args.seconds_per_sample or preset["seconds"],
        jit_compile={"auto": "auto", "true": True, "false": False}[args.jit_compile],
        seed=0,
    )
    return configs, settings


def run_bench(args, experiment_id):
    """Times the grid in a new run, prints and logs the table; a stop ends the run KILLED."""
    configs, settings = grid_and_settings(args)
    device = resolve_device(args.device)
    signals.raise_on_stop_signals()
    started, backend = time.perf_counter(), keras.config.backend()
    try:
        tags = {"kind": "bench"} | records.environment_tags("custom,stock", device, device.kind)
        run = mlflow.start_run(experiment_id=experiment_id, run_name="bench", tags=tags)
        grid = {k: ",".join(map(str, sorted({getattr(c, k) for c in configs}))) for k in GRID}
        machine = {"device": args.device, "backend": backend, "quick": args.quick}
        mlflow.log_params({**grid, **vars(settings), **machine})
        where = f"{device.name} ({device.kind}), Keras backend {backend}"
        print(f"Timing {len(configs)} configs on {where}", flush=True)
        with keras.device(device.spec), signals.stops_at_checkpoints():
            # A 2048x2048 float32 matmul, summed on the device: the device's practical peak.
            a = keras.ops.convert_to_tensor(np.random.default_rng(0).random((2048, 2048), "f4"))
            reference = (lambda: keras.ops.convert_to_numpy(keras.ops.sum(a @ a)), 2.0 * 2048**3)
            rows = []
            for index, config in enumerate(configs, start=1):
                print(f"[{index}/{len(configs)}] {config.name} ({config.shape}) ...", flush=True)
                rows.append(measure(config, settings, reference))
        results = pd.DataFrame(rows)
        cells = {title: [cell.format(**row) for row in rows] for title, cell in CELLS.items()}
        table = "\n".join([pd.DataFrame(cells).to_string(index=False), *TABLE_NOTES])
        print(table)
        flat = results.set_index("config").select_dtypes(float).stack()
        metrics = {f"{config}.{key}": value for (config, key), value in flat.items()}
        metrics |= {f"median_{m}_ratio": results[f"{m}_ratio"].median() for m in timing.MEASURES}
        metrics["matmul_peak_gflops"] = results["peak_gflops"].median()
        metrics["max_train_peak_fraction"] = results["train_peak_fraction_custom"].max()
        mlflow.log_metrics(metrics)
        mlflow.log_text(table + "\n", "bench.txt")
        mlflow.log_text(results.to_csv(index=False), "bench.csv")
        mlflow.log_figure(figure := plot(results), "bench.png", save_kwargs={"dpi": 110})
        if args.output_dir:
            args.output_dir.mkdir(parents=True, exist_ok=True)
            results.to_csv(args.output_dir / "bench.csv", index=False)
            figure.savefig(args.output_dir / "bench.png", dpi=110)
        mlflow.log_metric("bench_time_s", time.perf_counter() - started)
        mlflow.end_run()
    except BaseException as e:
        stop = isinstance(e, Interrupted | KeyboardInterrupt) and Interrupted.from_exception(e)
        if mlflow.active_run():
            reason = str(stop) if stop else lifecycle.describe_error(e)
            lifecycle.end_active_run("KILLED" if stop else "FAILED", reason)
        if not stop:
            raise
        print(f"error: {stop}", file=sys.stderr)
        sys.exit(stop.exit_status)
    finally:
        signals.exit_on_stop_signals("after the benchmark had ended")
    print(f"MLflow run {run.info.run_id} (experiment {experiment_id})")


def measure(config, settings, reference):
    """The config's row of the table: medians, ratios and GFLOP/s against the `reference`."""
    rng = np.random.default_rng(settings.seed)
    x = rng.random((config.batch_size, INPUT_DIM), dtype=np.float32)
    y = rng.integers(0, NUM_CLASSES, size=config.batch_size)
    compiling = {k: getattr(settings, k) for k in ("steps_per_execution", "jit_compile")}

    def build(layer):
        dense = CustomDense if layer == "custom" else keras.layers.Dense
        model = build_mlp(dense, (INPUT_DIM,), NUM_CLASSES, config.units, config.depth)
        model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", **compiling)
        return model

    models = timing.paired_models(build, settings.seed)
    (call, peak_flops), measures = reference, timing.MEASURES
    clock = timing.pair_clock(models, x, y, settings.seconds_per_sample, measures, call)
    seconds = clock(settings.rounds)
    peak = float(np.median(peak_flops / np.asarray(seconds["train_step"]["reference"]) / 1e9))
    row = dict(config=config.name, mlp=config.shape, batch_size=config.batch_size, peak_gflops=peak)
    for name in timing.MEASURES:
        row |= {f"{name}_ms_{k}": float(np.median(seconds[name][k]) * 1e3) for k in LAYERS}
        summary = ratio_summary(seconds[name]["custom"], seconds[name]["stock"])
        row |= {f"{name}_{key}": value for key, value in summary.items()}
    flops = training_matmul_flops(models["custom"], config.batch_size)
    for layer in LAYERS:
        row[f"train_gflops_{layer}"] = gflops = flops / row[f"train_step_ms_{layer}"] / 1e6
        row[f"train_peak_fraction_{layer}"] = gflops / peak
    return row


def plot(results):
    """Each measure's ratio with its 95% interval; training GFLOP/s against the matmul peak."""
    figure = Figure(figsize=(max(7, 0.9 * len(results) + 3), 8))
    ratio_axis, gflops_axis = figure.subplots(2, 1, sharex=True)
    at = np.arange(len(results))
    titles = ("training step", "batched inference", "single-sample inference")
    styles = zip((-0.2, 0, 0.2), "os^", timing.MEASURES, titles, strict=True)
    for offset, marker, name, title in styles:
        ratio = results[f"{name}_ratio"]
        errors = [ratio - results[f"{name}_ci_low"], results[f"{name}_ci_high"] - ratio]
        ratio_axis.errorbar(at + offset, ratio, errors, fmt=marker, capsize=3, label=title)
    ratio_axis.axhline(1.0, color="black", linewidth=0.8)
    ratio_axis.axhspan(0.98, 1.02, color="grey", alpha=0.15, label="1.00 ± 0.02")
    title = "CustomDense against Dense: median ratio, 95% bootstrap interval"
    ratio_axis.set(ylabel="custom / stock time", title=title)
    for offset, layer in ((-0.175, "custom"), (0.175, "stock")):
        gflops_axis.bar(at + offset, results[f"train_gflops_{layer}"], 0.35, label=layer)
    gflops_axis.plot(at, results["peak_gflops"], "r_", markersize=20, label="matmul peak")
    gflops_axis.set_ylabel("training GFLOP/s")
    gflops_axis.set_xticks(at, results["config"], rotation=30, ha="right")
    for axis in (ratio_axis, gflops_axis):
        axis.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout()
    return figure
