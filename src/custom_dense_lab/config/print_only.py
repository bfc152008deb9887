"""What `custom-dense-train` prints without running a job (`--help`, `--cfg job`, ...), before TensorFlow loads."""

import string
import sys

import hydra
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf, open_dict

from custom_dense_lab.arguments import is_program
from custom_dense_lab.config import CONFIG_DIR, command_line
from custom_dense_lab.config.schema import register_schemas


def answer_print_only(module_file):
    """Answers a command line that only prints, and exits; returns for one that runs jobs."""
    args = command_line.normalize(sys.argv[1:])
    if not is_program("custom-dense-train", module_file) or command_line.runs_jobs(args):
        return
    if printing := command_line.print_only_with_multirun(args):
        why = f"({printing} prints and runs no job; -m runs a sweep)"
        print(f"error: Invalid {printing} with -m: expected one of them {why}", file=sys.stderr)
        raise SystemExit(2)
    args = [arg for arg in args if arg not in command_line.MULTIRUN_FLAGS]  # --help alike
    register_schemas()
    register_help_resolver()
    if args in (["--help"], ["-h"]):  # Hydra's lists every group, shown by the template or not
        with hydra.initialize_config_dir(config_dir=str(CONFIG_DIR)):
            cfg = hydra.compose("config", return_hydra_config=True)
            template = string.Template(cfg.hydra.help.template)
            if set(template.get_identifiers()) == {"CONFIG"}:
                with open_dict(cfg):
                    del cfg["hydra"]
                print(template.substitute(CONFIG=OmegaConf.to_yaml(cfg)))
                raise SystemExit(0)
    sys.argv = [sys.argv[0], *args]
    app = hydra.main(config_path=str(CONFIG_DIR), config_name="config")
    app(lambda cfg: None)()  # Hydra's print-only flags never call the task
    raise SystemExit(0)


def register_help_resolver():
    """`${custom_dense_config_groups:}` of the help template: each group's options, no schemas."""
    OmegaConf.register_resolver("custom_dense_config_groups", _config_groups, replace=True)


def _config_groups():
    loader = GlobalHydra.instance().config_loader()
    groups = [group for group in loader.list_groups("") if group != "hydra"]
    for group in groups:
        groups += [f"{group}/{name}" for name in loader.list_groups(group)]
    options = {g: [o for o in sorted(loader.get_group_options(g)) if o[0] != "_"] for g in groups}
    return "\n".join(f"{g}: {', '.join(names)}" for g, names in sorted(options.items()) if names)
