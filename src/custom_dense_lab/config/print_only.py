"""What `custom-dense-train` prints without running a job, answered before TensorFlow loads.

`--help`, `--hydra-help`, `--cfg job`, `--info` and the like need Hydra and
the config alone: a minimal Hydra application of the same config answers them
in well under a second, where the program would spend seconds loading
TensorFlow and MLflow first.
"""

import string
import sys

import hydra
from omegaconf import OmegaConf, flag_override

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
    if args in (["--help"], ["-h"]) and _print_help():
        raise SystemExit(0)
    sys.argv = [sys.argv[0], *args]
    hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")(_no_job)()
    raise SystemExit(0)


def _no_job(cfg):
    """The application's task: Hydra's print-only flags never call it."""


def _print_help():
    """Prints `--help` as Hydra does, for a help template that shows `$CONFIG` alone.

    Hydra's own `--help` lists every config group twice, for the template's
    `$APP_CONFIG_GROUPS` and `$HYDRA_CONFIG_GROUPS`, whether it shows them or
    not: a second on a two-core machine. The program's template lists the
    groups through its own resolver (see `config.help`).

    Returns:
        Whether it printed the help: `False` for a template that shows
        anything else, which Hydra's own `--help` then prints.
    """
    with hydra.initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = hydra.compose("config", return_hydra_config=True)
        template = string.Template(cfg.hydra.help.template)
        if set(template.get_identifiers()) - {"CONFIG"}:
            return False
        with flag_override(cfg, ["struct", "readonly"], [False, False]):
            del cfg["hydra"]
        print(template.substitute(CONFIG=OmegaConf.to_yaml(cfg)))
    return True
