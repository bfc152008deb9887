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
    """Checks the arguments and the tracking store, then runs the bench on the Keras backend asked for.

    Exits 2 with one line for bad input, before TensorFlow loads; 1 for a full disk.
    """
    argv = expand_mlproject_parameter(sys.argv[1:] if argv is None else argv, "--flags")
    args = arguments.bench_parser().parse_args(argv)
    try:
        if args.output_dir:
            _require_writable(args.output_dir)
        if args.backend:
            try:
                require_backend_installed(args.backend)
            except ConfigError as error:
                raise ConfigError("--backend", error.value, error.accepted) from None
        store.use_store(args.tracking_uri)
        experiment_id = store.open_experiment(
            args.experiment, mlflow.environment_variables.MLFLOW_RUN_ID.get()
        )
    except (ConfigError, StorageFullError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2 if isinstance(error, ConfigError) else 1)
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend  # Keras chooses its backend as it loads
    from custom_dense_lab.benchmark import grid_bench  # TensorFlow and Keras load here, quietly

    grid_bench.run_bench(args, experiment_id)


def _require_writable(folder):
    """Refuses an output folder the bench could not write its files to, before it times anything."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise ConfigError(
            "--output-dir", str(folder), f"a folder this process can write ({error.strerror})"
        ) from None


if __name__ == "__main__":
    main()
