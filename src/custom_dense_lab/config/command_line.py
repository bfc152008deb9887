"""The command line of `custom-dense-train`, as users and MLproject pass it."""

import shlex

MULTIRUN_FLAGS = ("-m", "--multirun")
_CONFIG_DIR_FLAGS = ("--config-dir", "-cd")
_JOINED_CONFIG_DIR_FLAGS = ("--config-dir=", "-cd=")
_VALUE_FLAGS = {*_CONFIG_DIR_FLAGS, "--config-path", "-cp", "--config-name", "-cn"}
# Hydra's flags that print something and run no job; the first three also with `-m`.
_HELP_FLAGS = {"--help", "-h", "--hydra-help"}
_PRINT_ONLY_FLAGS = _HELP_FLAGS | {"--version", "--cfg", "-c", "--info", "-i"}
_PRINT_ONLY_FLAGS |= {"--shell-completion", "-sc"}


def expand_mlproject_parameter(args, flag):
    """Splits `flag "a b"` (how MLproject passes a parameter: one word) like a shell would."""
    return shlex.split(args[1]) if len(args) == 2 and args[0] == flag else list(args)


def normalize(args):
    """Expands `--overrides "a=1 b=2"`, and moves `-m` and `-cd DIR` before the overrides."""
    args = expand_mlproject_parameter(args, "--overrides")
    front, rest = [], []
    for arg, flag in _with_flags(args):
        moved = arg in (*MULTIRUN_FLAGS, *_CONFIG_DIR_FLAGS) or flag in _CONFIG_DIR_FLAGS
        (front if moved or arg.startswith(_JOINED_CONFIG_DIR_FLAGS) else rest).append(arg)
    return [*front, *rest]


def print_only_with_multirun(args):
    """The print-only flag given with `-m`, which Hydra refuses with a traceback, else `None`."""
    printing = sorted((_PRINT_ONLY_FLAGS - _HELP_FLAGS) & set(args))
    return printing[0] if printing and set(MULTIRUN_FLAGS) & set(args) else None


def runs_jobs(args):
    return not _PRINT_ONLY_FLAGS & set(args)


def overrides_of(args):
    """The overrides among the arguments (`key=value`, `~key`), in order."""
    words = [arg for arg, flag in _with_flags(args) if not flag and not arg.startswith("-")]
    return [arg for arg in words if "=" in arg or arg.startswith("~")]


def config_dirs(args):
    """The folders `--config-dir DIR` (`-cd DIR`, `--config-dir=DIR`) adds, in order."""
    return [
        arg.partition("=")[2] if arg.startswith(_JOINED_CONFIG_DIR_FLAGS) else arg
        for arg, flag in _with_flags(args)
        if flag in _CONFIG_DIR_FLAGS or arg.startswith(_JOINED_CONFIG_DIR_FLAGS)
    ]


def _with_flags(args):
    """Each argument with the flag whose value it is (`None` for the others)."""
    flags = [None, *(arg if arg in _VALUE_FLAGS else None for arg in args)]
    return zip(args, flags[: len(args)], strict=True)
