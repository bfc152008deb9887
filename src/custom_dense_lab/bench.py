"""`custom-dense-bench`: the paired custom-vs-stock benchmark, logged to MLflow."""

from custom_dense_lab import arguments
from custom_dense_lab.config.command_line import expand_mlproject_parameter

arguments.answer_help(arguments.bench_parser, __file__)  # at once, before TensorFlow loads

from custom_dense_lab.process.startup import quiet_start

quiet_start(import_tensorflow=False)  # TensorFlow loads once the arguments and store are checked


import os
import sys
import tempfile

import mlflow

from custom_dense_lab.config.validation import require_backend_installed
from custom_dense_lab.errors import ConfigError, StorageFullError
from custom_dense_lab.tracking import store


def main(argv=None):
    """Checks the arguments and the store (bad input: one line, exit 2, before TensorFlow
    loads; a full disk: exit 1), then runs the bench on the Keras backend asked for."""
    argv = expand_mlproject_parameter(sys.argv[1:] if argv is None else argv, "--flags")
    args = arguments.bench_parser().parse_args(argv)
    try:
        if args.output_dir:
            try:
                args.output_dir.mkdir(parents=True, exist_ok=True)
                tempfile.TemporaryFile(dir=args.output_dir).close()
            except OSError as error:
                accepted = f"a folder this process can write ({error.strerror})"
                raise ConfigError("--output-dir", str(args.output_dir), accepted) from None
        if args.backend:
            try:
                require_backend_installed(args.backend)
            except ConfigError as error:
                raise ConfigError("--backend", error.value, error.accepted) from None
        store.use_store(args.tracking_uri, "--tracking-uri")
        run_id = mlflow.environment_variables.MLFLOW_RUN_ID.get()
        experiment_id = store.open_experiment(args.experiment, run_id)
    except (ConfigError, StorageFullError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2 if isinstance(error, ConfigError) else 1)
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend  # Keras chooses its backend as it loads
    from custom_dense_lab.benchmark import grid_bench  # TensorFlow and Keras load here, quietly

    grid_bench.run_bench(args, experiment_id)


if __name__ == "__main__":
    main()
