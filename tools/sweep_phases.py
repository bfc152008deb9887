"""The sweep benchmark's scenarios and its figures, from the runs a scenario's store holds.

A scenario is one command, run in a fresh process from an empty folder with its
own store. Its figures: the process's wall time, and over its jobs the sums of
`fit_time_s`, `first_epoch_time_s`, `overhead_s` and of pure step time (steps
times the job's steady-state `step_time_ms`), and wall time over pure step time.
Its phases, from the runs' start and end times: start-up (until the first job's
run starts), the jobs (until the last one's run ends), the end (report and
exit), `runs_s` (the jobs' run times added up: less than the jobs' phase in
process, where Hydra sets each job up between runs, more with parallel
workers), and the sums of each `overhead_*_s` part the jobs logged.
"""

import math
from dataclasses import dataclass

SWEEP_OVERRIDES = ("layer=custom,stock", "model.units=32,64", "seed=0,1")
JOBLIB_OVERRIDES = ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
FIGURES = ("wall_s", "jobs", "fit_s", "first_epochs_s", "overhead_s", "steps_s", "wall_per_step_s")
PHASES = (
    "startup_s",
    "jobs_s",
    "runs_s",
    "end_s",
    "overhead_setup_s",
    "overhead_data_s",
    "overhead_build_s",
    "overhead_evaluate_s",
    "overhead_inference_s",
    "overhead_artifacts_s",
    "overhead_log_model_s",
)


TRAIN_MODULE = "custom_dense_lab.train"


@dataclass(frozen=True)
class Scenario:
    """One measured command.

    Args:
        name: Its name in the table.
        args: `python` arguments after the interpreter.
    """

    name: str
    args: tuple


def scenarios(epochs=None, overrides=()):
    """The measured commands: TensorFlow's import, a default job, the grid, the sweep twice.

    Args:
        epochs: Epochs of every job instead of the configured ones (the grid's
            20, the sweep's 60), for a quick run; `None` keeps them.
        overrides: Hydra overrides added to every train command, e.g.
            `("mlflow.log_model=false",)`.

    Returns:
        A list of `Scenario`s.
    """
    train = ("-m", TRAIN_MODULE)
    one = (*(() if epochs is None else (f"trainer.epochs={epochs}",)), *overrides)
    sweep = (*SWEEP_OVERRIDES, f"trainer.epochs={epochs or 60}", *overrides)
    return [
        Scenario("tf_import", ("-c", "import tensorflow, keras")),
        Scenario("single", (*train, *one)),
        Scenario("grid", (*train, "+experiment=grid", "-m", *one)),
        Scenario("sweep_in_process", (*train, "-m", *sweep)),
        Scenario("sweep_joblib_2", (*train, "-m", *sweep, *JOBLIB_OVERRIDES)),
    ]


def job_figures(jobs):
    """Sums over a scenario's jobs.

    Args:
        jobs: One dict per finished job: its metrics (`fit_time_s`,
            `first_epoch_time_s`, `overhead_s`, `step_time_ms`) and `epochs`,
            `train_size`, `batch_size`.

    Returns:
        A dict of `jobs`, `fit_s`, `first_epochs_s`, `overhead_s` and `steps_s`.
    """
    steps = sum(
        job["epochs"] * math.ceil(job["train_size"] / job["batch_size"]) * job["step_time_ms"]
        for job in jobs
    )
    return {
        "jobs": len(jobs),
        "fit_s": sum(job["fit_time_s"] for job in jobs),
        "first_epochs_s": sum(job["first_epoch_time_s"] for job in jobs),
        "overhead_s": sum(job["overhead_s"] for job in jobs),
        "steps_s": steps / 1000.0,
    }


def phases(jobs, started_s, ended_s):
    """Where a scenario's wall time went, from its jobs' run times and logged phases.

    Args:
        jobs: One dict per finished job, with its run's `start_s` and `end_s`
            (seconds since the epoch) and the `overhead_*_s` metrics it logged.
        started_s: When the scenario's process started (seconds since the epoch).
        ended_s: When it ended.

    Returns:
        A dict of the `PHASES`: NaN for a phase no job logged, all NaN without jobs.
    """
    if not jobs:
        return dict.fromkeys(PHASES, math.nan)
    first_start = min(job["start_s"] for job in jobs)
    last_end = max(job["end_s"] for job in jobs)
    figures = {
        "startup_s": first_start - started_s,
        "jobs_s": last_end - first_start,
        "runs_s": sum(job["end_s"] - job["start_s"] for job in jobs),
        "end_s": ended_s - last_end,
    }
    for name in (phase for phase in PHASES if phase.startswith("overhead_")):
        logged = [job[name] for job in jobs if name in job]
        figures[name] = sum(logged) if logged else math.nan
    return figures


def pair_deltas(accuracies):
    """Custom minus stock test accuracy for every pair of jobs equal in all else.

    Args:
        accuracies: `{params: test_accuracy}`, where `params` is a sorted
            tuple of `(name, value)` pairs with `("layer.name", "custom")` or
            `("layer.name", "stock")` and no other `layer.` key.

    Returns:
        The list of deltas, one per pair.
    """
    deltas = []
    for params, accuracy in accuracies.items():
        if ("layer.name", "custom") in params:
            twin = tuple(sorted(_swap(pair) for pair in params))
            if twin in accuracies:
                deltas.append(accuracy - accuracies[twin])
    return deltas


def _swap(pair):
    return ("layer.name", "stock") if pair == ("layer.name", "custom") else pair
