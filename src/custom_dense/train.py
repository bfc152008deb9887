"""`python -m custom_dense.train [overrides]`: one training job, or a sweep with `-m`."""

import pathlib
import sys

import hydra
import mlflow
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from custom_dense import sweep, tracking
from custom_dense.errors import ConfigError
from custom_dense.job import run_job
from custom_dense.overrides import check_overrides, compose_fixed_part, split_mlproject_args
from custom_dense.schema import register_schemas

CONFIG_DIR = pathlib.Path(__file__).resolve().parents[2] / "conf"
# Hydra's flags that print something and run no job: they need no tracking server.
_NO_JOB_FLAGS = frozenset(
    {
        "--help",
        "-h",
        "--hydra-help",
        "--version",
        "--cfg",
        "-c",
        "--info",
        "-i",
        "--shell-completion",
        "-sc",
    }
)


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def _task(cfg):
    hydra_cfg = HydraConfig.get()
    in_sweep = hydra_cfg.mode == RunMode.MULTIRUN
    parent = sweep.parent_run_id(hydra_cfg.sweep.dir) if in_sweep else None
    overrides = list(hydra_cfg.overrides.task)
    metrics = run_job(cfg, overrides, in_sweep, parent)
    if metrics is None:
        sweep.FAILED_JOBS.append((" ".join(overrides) or "default config", None))
        return None
    return metrics["val_accuracy"]


def main(argv=None):
    """Runs the Hydra application; exits non-zero if any job failed or input was bad."""
    args = split_mlproject_args(sys.argv[1:] if argv is None else argv)
    register_schemas()
    try:
        check_overrides(args, CONFIG_DIR)
        shared = None if _NO_JOB_FLAGS & set(args) else compose_fixed_part(args, CONFIG_DIR)
        if shared is not None:
            tracking.check_tracking_server(shared.mlflow)
    except ConfigError as error:
        _reject(error)
    sys.argv = [sys.argv[0], *args]
    sweep.FAILED_JOBS.clear()
    try:
        _task()
    except SystemExit as stop:
        if stop.code:
            sweep.finish_sweep(abort_reason=f"the sweep stopped early (exit status {stop.code})")
        raise
    if sweep.FAILED_JOBS:
        names = "; ".join(str(name) for name, _ in sweep.FAILED_JOBS)
        print(f"{len(sweep.FAILED_JOBS)} job(s) failed: {names}", file=sys.stderr)
        sys.exit(1)


def _reject(error):
    """Prints one line, marks the run `mlflow run` opened (if any) FAILED, exits 2."""
    print(f"error: {error}", file=sys.stderr)
    project_run = mlflow.environment_variables.MLFLOW_RUN_ID.get()
    if project_run:
        tracking.fail_run(project_run, str(error))
    sys.exit(2)


if __name__ == "__main__":
    main()
