"""`python tools/import_time.py`: what importing the library costs.

Times, in fresh interpreters, `import keras` against `from custom_dense import
CustomDense, convert` (which imports Keras itself), interleaved round by round
so that drift in the machine's speed falls on both alike, and reports the
median extra cost of the library with its spread. The figures are printed and
logged to an MLflow run tagged `kind=import-bench`.
"""

from custom_dense_lab.process.startup import quiet_start

quiet_start()

import argparse
import subprocess
import sys
import time

import mlflow
import numpy as np

from custom_dense_lab.reports.stats import ratio_summary
from custom_dense_lab.tracking import store

STATEMENTS = {
    "keras": "import keras",
    "custom_dense": "from custom_dense import CustomDense, convert",
}


def time_import(statement):
    """Seconds a fresh interpreter takes to start, run `statement` and exit."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True, capture_output=True)
    return time.perf_counter() - started


def measure(rounds):
    """Times both statements `rounds` times, alternating which goes first.

    Returns:
        `{name: seconds per round}` as numpy arrays.
    """
    seconds = {name: [] for name in STATEMENTS}
    for index in range(rounds):
        order = list(STATEMENTS) if index % 2 == 0 else list(reversed(STATEMENTS))
        for name in order:
            seconds[name].append(time_import(STATEMENTS[name]))
    return {name: np.asarray(values) for name, values in seconds.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python tools/import_time.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rounds", type=int, default=11, help="interleaved rounds (default 11)")
    parser.add_argument("--experiment", default="custom-dense-bench", help="MLflow experiment")
    args = parser.parse_args(argv)
    for statement in STATEMENTS.values():  # warm the file system cache, untimed
        time_import(statement)
    seconds = measure(args.rounds)
    extra = seconds["custom_dense"] - seconds["keras"]
    ratio = ratio_summary(seconds["custom_dense"], seconds["keras"])
    figures = {
        "keras_import_s": float(np.median(seconds["keras"])),
        "custom_dense_import_s": float(np.median(seconds["custom_dense"])),
        "extra_import_s": float(np.median(extra)),
        "extra_import_s_max": float(extra.max()),
        "import_time_ratio": ratio["ratio"],
    }
    print(
        f"{args.rounds} interleaved rounds, fresh interpreters:\n"
        f"  {STATEMENTS['keras']:<48} median {figures['keras_import_s']:.3f} s\n"
        f"  {STATEMENTS['custom_dense']:<48} median {figures['custom_dense_import_s']:.3f} s\n"
        f"  extra cost of the library: median {figures['extra_import_s'] * 1000:+.0f} ms "
        f"(max {figures['extra_import_s_max'] * 1000:+.0f} ms); ratio {ratio['ratio']:.3f} "
        f"[{ratio['ci_low']:.3f}, {ratio['ci_high']:.3f}]"
    )
    store.use_store(None)
    experiment_id = store.open_experiment(args.experiment)
    with mlflow.start_run(experiment_id=experiment_id, run_name="import time"):
        mlflow.set_tag("kind", "import-bench")
        mlflow.log_param("rounds", args.rounds)
        mlflow.log_metrics(figures)


if __name__ == "__main__":
    main()
