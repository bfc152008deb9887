"""`custom-dense-bench`: the paired custom-vs-stock benchmark, logged to MLflow."""

from custom_dense_lab import arguments
from custom_dense_lab.config.command_line import expand_mlproject_parameter

arguments.answer_help(arguments.bench_parser, __file__)  # at once, before TensorFlow loads

from custom_dense_lab.process.startup import quiet_start

quiet_start(import_tensorflow=False)  # TensorFlow loads once the arguments and store are checked

import os
import sys

import mlflow

from custom_dense_lab.config.validation import require_backend_installed
from custom_dense_lab.errors import ConfigError, StorageFullError
from custom_dense_lab.tracking import disk, store


def main(argv=None):
    """Bad input: one line, exit 2, before TensorFlow loads; a full disk: exit 1."""
    argv = expand_mlproject_parameter(sys.argv[1:] if argv is None else argv, "--flags")
    args = arguments.bench_parser().parse_args(argv)
    try:
        if args.output_dir and (problem := disk.write_problem(args.output_dir)):
            accepted = f"a folder this process can write ({problem})"
            raise ConfigError("--output-dir", str(args.output_dir), accepted)
        if args.backend:
            require_backend_installed(args.backend)
            os.environ["KERAS_BACKEND"] = args.backend  # Keras chooses its backend as it loads
        store.use_store(args.tracking_uri, "--tracking-uri")
        project_run = mlflow.environment_variables.MLFLOW_RUN_ID.get()
        experiment_id = store.open_experiment(args.experiment, project_run)
        from custom_dense_lab.benchmark import grid_bench  # TensorFlow and Keras load here

        grid_bench.run_bench(args, experiment_id)  # a device it cannot use: ConfigError
    except (ConfigError, StorageFullError) as error:
        if getattr(error, "key", None) == "backend":
            error = ConfigError("--backend", error.value, error.accepted)
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2 if isinstance(error, ConfigError) else 1)


if __name__ == "__main__":
    main()
