"""`python tools/sweep_bench.py`: where a sweep's wall time goes, logged to MLflow.

Runs TensorFlow's import, a default job, the mission grid and an 8-job sweep
(in process and on two joblib workers), each in a fresh process from an empty
folder with its own store, and reads the jobs' figures from that store. With
`--baseline SRC`, each scenario also runs with `PYTHONPATH=SRC` (another
checkout's `src`), interleaved with this code: baseline first in odd rounds,
this code first in even ones. A baseline from before the lab was its own package
runs its train program under its old name, `custom_dense.train`.
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mlflow
import pandas as pd
import sweep_phases

from custom_dense_lab.errors import ConfigError
from custom_dense_lab.tracking import store

# This checkout's code: tools/ stands beside src/.
CURRENT_SRC = Path(__file__).resolve().parent.parent / "src"
_KEPT_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "TFDS_DATA_DIR")


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python tools/sweep_bench.py",
        description="Time whole sweeps (wall, fit, first epochs, overhead, pure step time), "
        "optionally side by side with another checkout; prints a table and logs it to an "
        "MLflow run tagged kind=sweep-bench.",
    )
    parser.add_argument("--baseline", type=Path, help="another checkout's src folder")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of every scenario")
    parser.add_argument("--epochs", type=int, help="epochs of every job (default: configured)")
    parser.add_argument(
        "--scenarios",
        help="comma-separated subset of tf_import,single,grid,sweep_in_process,sweep_joblib_2",
    )
    parser.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Hydra override for every job, e.g. mlflow.log_model=false (repeatable)",
    )
    parser.add_argument("--output-dir", type=Path, help="also write the CSV and table here")
    parser.add_argument("--tracking-uri", help="the MLflow store (default: as for train)")
    parser.add_argument("--experiment", default="custom-dense-bench")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    chosen = [
        s
        for s in sweep_phases.scenarios(args.epochs, args.override)
        if not args.scenarios or s.name in args.scenarios.split(",")
    ]
    codes = {"current": CURRENT_SRC}
    if args.baseline:
        codes = {"baseline": args.baseline.resolve(), **codes}
    try:
        store.use_store(args.tracking_uri, "--tracking-uri")
        experiment_id = store.open_experiment(args.experiment, None)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    for code, src in codes.items():
        print(f"{code}: {_imported_from(src)}", flush=True)
    rows = []
    for round_ in range(1, args.rounds + 1):
        order = list(codes.items())
        if round_ % 2 == 0:
            order.reverse()
        for scenario in chosen:
            for code, src in order:
                row = {"round": round_, "code": code, "scenario": scenario.name}
                row.update(run_scenario(scenario, src))
                print(_progress_line(row), flush=True)
                rows.append(row)
    results = pd.DataFrame(rows)
    table = summary_table(results)
    print(table)
    with mlflow.start_run(experiment_id=experiment_id, run_name="sweep-bench"):
        mlflow.set_tags({"kind": "sweep-bench", "load_avg_1m": f"{os.getloadavg()[0]:.2f}"})
        mlflow.log_params(
            {
                "rounds": args.rounds,
                "epochs": args.epochs,
                "overrides": " ".join(args.override),
                "codes": str(codes),
            }
        )
        mlflow.log_metrics(_summary_metrics(results))
        mlflow.log_text(table + "\n", "sweep_bench.md")
        mlflow.log_text(results.to_csv(index=False), "sweep_bench.csv")
        print(f"MLflow run {mlflow.active_run().info.run_id} (experiment {experiment_id})")
    if args.output_dir:
        args.output_dir.mkdir(parents=True, exist_ok=True)
        results.to_csv(args.output_dir / "sweep_bench.csv", index=False)
        (args.output_dir / "sweep_bench.md").write_text(table + "\n")


def _progress_line(row):
    """One scenario's figures in one line, without NaNs (its accuracies go to the CSV only)."""
    figures = ", ".join(
        f"{key} {value:.3f}" if isinstance(value, float) else f"{key} {value}"
        for key, value in row.items()
        if key not in ("round", "code", "scenario", "accuracies")
        and not (isinstance(value, float) and math.isnan(value))
    )
    return f"round {row['round']} {row['code']} {row['scenario']}: {figures}"


def run_scenario(scenario, src):
    """Runs one scenario in a fresh process and folder with `src` first on the path.

    Returns:
        Its figures (`sweep_phases.FIGURES`), its custom/stock pairs and how many
        differ in test accuracy, the 1-minute load when it ended, and the
        jobs' test accuracies by params, as JSON.
    """
    folder = Path(tempfile.mkdtemp(prefix=f"sweep-bench-{scenario.name}-"))
    try:
        started, started_s = time.perf_counter(), time.time()
        done = subprocess.run(
            [sys.executable, *_for_code(scenario.args, src)],
            cwd=folder,
            env=_clean_env(src),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wall, ended_s = time.perf_counter() - started, time.time()
        if done.returncode:
            raise SystemExit(f"{scenario.name} failed ({done.returncode}):\n{done.stdout[-3000:]}")
        jobs, accuracies = _read_jobs(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    figures = {
        "wall_s": wall,
        **sweep_phases.job_figures(jobs),
        **sweep_phases.phases(jobs, started_s, ended_s),
    }
    figures["wall_per_step_s"] = wall / figures["steps_s"] if figures["steps_s"] else math.nan
    deltas = sweep_phases.pair_deltas(accuracies)
    return {
        **figures,
        "pairs": len(deltas),
        "nonzero_pair_deltas": sum(delta != 0 for delta in deltas),
        "load_1m": os.getloadavg()[0],
        "accuracies": json.dumps(sorted([list(map(list, k)), v] for k, v in accuracies.items())),
    }


def summary_table(results):
    """Medians over rounds per scenario and code, this code's wall over the baseline's, phases."""
    figures = [*sweep_phases.FIGURES, "nonzero_pair_deltas", "load_1m"]
    medians = results.groupby(["scenario", "code"], sort=False)[figures].median()
    table = medians.round(3)
    if "baseline" in set(results["code"]):
        walls = results.pivot_table("wall_s", ["scenario", "round"], "code")
        ratio = (walls["current"] / walls["baseline"]).groupby("scenario").median()
        table["wall_vs_baseline"] = [ratio.get(s, math.nan) for s, _ in table.index]
        table["same_accuracies"] = [_same_accuracies(results, s) for s, _ in table.index]
    phases = results.groupby(["scenario", "code"], sort=False)[list(sweep_phases.PHASES)].median()
    phases = phases.drop(index="tf_import", level="scenario", errors="ignore")
    phases.columns = [name.removeprefix("overhead_") for name in phases.columns]
    lines = [table.to_string(), "", "Phases (s):", phases.round(3).to_string(), ""]
    lines += [f"{k}: {v:.3f}" for k, v in derived_figures(results).items()]
    return "\n".join(lines)


def derived_figures(results):
    """Per code: joblib speed-up over in process, a default job's time beyond TF's import."""
    figures = {}
    walls = results.pivot_table("wall_s", ["code", "round"], "scenario")
    for code in walls.index.get_level_values("code").unique():
        rows = walls.loc[code]
        if {"sweep_in_process", "sweep_joblib_2"} <= set(rows):
            speedup = rows["sweep_in_process"] / rows["sweep_joblib_2"]
            figures[f"{code}.joblib_speedup"] = float(speedup.median())
        if {"single", "tf_import"} <= set(rows):
            figures[f"{code}.single_minus_tf_import_s"] = float(
                (rows["single"] - rows["tf_import"]).median()
            )
    return figures


def _summary_metrics(results):
    metrics = dict(derived_figures(results))
    medians = results.groupby(["code", "scenario"])[
        [*sweep_phases.FIGURES, *sweep_phases.PHASES]
    ].median()
    for (code, scenario), row in medians.iterrows():
        for name, value in row.items():
            if not math.isnan(value):
                metrics[f"{code}.{scenario}.{name}"] = float(value)
    return metrics


def _same_accuracies(results, scenario):
    """Whether every run of `scenario` gave each job the same test accuracy.

    Jobs are matched on the params every code logs (one may log more).
    """
    runs = [json.loads(text) for text in results.loc[results["scenario"] == scenario, "accuracies"]]
    names = [{name for params, _ in jobs for name, _ in params} for jobs in runs]
    common = set.intersection(*names) if names else set()
    matched = {
        json.dumps(sorted([[p for p in params if p[0] in common], acc] for params, acc in jobs))
        for jobs in runs
    }
    return len(matched) == 1


def _read_jobs(folder):
    """The finished jobs of the store in `folder`, and their test accuracies by params."""
    if not (folder / "mlflow.db").exists():
        return [], {}
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    jobs, accuracies = [], {}
    for run in client.search_runs(experiments, "metrics.fit_time_s > -1", max_results=10000):
        metrics, params = run.data.metrics, run.data.params
        train_size = _train_size(run)
        jobs.append(
            {
                **metrics,
                "start_s": run.info.start_time / 1000.0,
                "end_s": run.info.end_time / 1000.0,
                "epochs": int(params["trainer.epochs"]),
                "train_size": train_size,
                "batch_size": int(params["trainer.batch_size"]),
            }
        )
        key = tuple(
            sorted(
                (k, v)
                for k, v in params.items()
                if not k.startswith("mlflow.") and k != "layer.dense_class"
            )
        )
        accuracies[key] = metrics["test_accuracy"]
    return jobs, accuracies


def _train_size(run):
    for dataset_input in run.inputs.dataset_inputs:
        tags = {tag.key: tag.value for tag in dataset_input.tags}
        if "train_size" in tags:
            return int(tags["train_size"])
    raise ValueError(f"run {run.info.run_id} has no train_size in its dataset inputs")


def _for_code(args, src):
    """The scenario's arguments for the code in `src`, whose train program may have an older name."""
    if (Path(src) / "custom_dense_lab").is_dir():
        return list(args)
    return ["custom_dense.train" if arg == sweep_phases.TRAIN_MODULE else arg for arg in args]


def _clean_env(src):
    env = {k: v for k, v in os.environ.items() if k in _KEPT_ENV or k.startswith("LD_")}
    env["PYTHONPATH"] = str(src)
    return env


def _imported_from(src):
    done = subprocess.run(
        [sys.executable, "-c", "import custom_dense; print(custom_dense.__file__)"],
        env=_clean_env(src),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


if __name__ == "__main__":
    main()
