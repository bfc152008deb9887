"""What `custom-dense-train` prints without running a job, answered before TensorFlow loads.

`--help`, `--hydra-help`, `--cfg job`, `--info` and the like need Hydra and
the config alone: a minimal Hydra application of the same config answers them
in well under a second, where the program would spend seconds loading
TensorFlow and MLflow first.
"""

import sys

import hydra

from custom_dense_lab.arguments import is_program
from custom_dense_lab.config import CONFIG_DIR, command_line
from custom_dense_lab.config.help import register_help_resolver
from custom_dense_lab.config.schema import register_schemas


def answer_print_only(module_file):
    """Answers a command line that only prints, and exits; returns for one that runs jobs.

    Args:
        module_file: The program module's `__file__`: the command line is
            `custom-dense-train`'s only when the process runs it (see
            `arguments.is_program`), not when a sweep's worker or a test
            imports the module.
    """
    args = command_line.normalize(sys.argv[1:])
    if not is_program("custom-dense-train", module_file) or command_line.runs_jobs(args):
        return
    register_schemas()
    register_help_resolver()
    sys.argv = [sys.argv[0], *args]
    hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")(_no_job)()
    raise SystemExit(0)


def _no_job(cfg):
    """The application's task: Hydra's print-only flags never call it."""
