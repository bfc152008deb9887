"""`custom-dense-train`'s command line, read by Hydra's parsers; print-only ones answered first."""

import shlex
import string
import sys

from custom_dense_lab import private
from custom_dense_lab.arguments import is_program
from custom_dense_lab.config import CONFIG_DIR


def expand_mlproject_parameter(args, flag):
    """Splits `flag "a b"` (how MLproject passes a parameter: one word) like a shell would."""
    return shlex.split(args[1]) if len(args) == 2 and args[0] == flag else list(args)


def read(args):
    """Hydra's reading of `args` (`.multirun`, `.overrides`, ...); an unknown flag exits 2."""
    return private.hydra_argument_parser().parse_intermixed_args(args)


def normalize(args):
    """Expands `--overrides "a=1 b=2"`, and moves Hydra's flags before the overrides."""
    overrides = read(args := expand_mlproject_parameter(args, "--overrides")).overrides
    return [*(arg for arg in args if arg not in overrides), *overrides]


def prints_only(parsed):
    """The flag that prints and runs no job (`--help`, `--cfg`, `--info`, ...), else `None`."""
    flags = ("help", "hydra_help", "cfg", "info", "shell_completion")
    return next((f"--{flag.replace('_', '-')}" for flag in flags if vars(parsed)[flag]), None)


def parse(texts):
    """Hydra's `Override`s of `texts`; raises `hydra.errors.OverrideParseException`."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_overrides(list(texts))


def answer_print_only(module_file):
    """Answers a command line that only prints, and exits; returns for one that runs jobs."""
    args = normalize(sys.argv[1:]) if is_program("custom-dense-train", module_file) else []
    if not (printing := prints_only(parsed := read(args))):
        return
    if parsed.multirun and "help" not in printing:  # Hydra refuses it with a traceback
        why = f"({printing} prints and runs no job; -m runs a sweep)"
        print(f"error: Invalid {printing} with -m: expected one of them {why}", file=sys.stderr)
        raise SystemExit(2)
    import hydra
    from omegaconf import OmegaConf

    args = [arg for arg in args if arg not in ("-m", "--multirun")]  # --help alike
    register_with_hydra()
    if args in (["--help"], ["-h"]):  # Hydra's help lists every group, shown or not: slower
        with hydra.initialize_config_dir(config_dir=str(CONFIG_DIR)):
            cfg = hydra.compose("config", return_hydra_config=True)
            app = OmegaConf.to_yaml(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]))
            print(string.Template(cfg.hydra.help.template).substitute(CONFIG=app))
            raise SystemExit(0)
    sys.argv = [sys.argv[0], *args]
    hydra.main(config_path=str(CONFIG_DIR), config_name="config")(lambda cfg: None)()
    raise SystemExit(0)


def register_with_hydra():
    """Registers the schemas, and the help's `${custom_dense_config_groups:}` (group options)."""
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from custom_dense_lab.config import schema  # noqa: F401  registers the schemas

    def config_groups():
        loader = GlobalHydra.instance().config_loader()
        groups = [group for group in loader.list_groups("") if group != "hydra"]
        for group in groups:
            groups += [f"{group}/{name}" for name in loader.list_groups(group)]
        options = {g: sorted(o for o in loader.get_group_options(g) if o[0] != "_") for g in groups}
        return "\n".join(f"{g}: {', '.join(o)}" for g, o in sorted(options.items()) if o)

    OmegaConf.register_resolver("custom_dense_config_groups", config_groups, replace=True)
