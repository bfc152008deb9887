"""The command line of `custom-dense-train`, as users and MLproject pass it."""

import shlex

MULTIRUN_FLAGS = ("-m", "--multirun")
# Hydra's flags that add a config folder of the user's to the shipped one.
CONFIG_DIR_FLAGS = ("--config-dir", "-cd")
# The same flags with their value joined: `--config-dir=DIR`.
_JOINED_CONFIG_DIR_FLAGS = tuple(f"{flag}=" for flag in CONFIG_DIR_FLAGS)
# Hydra's flags followed by a value.
_VALUE_FLAGS = frozenset({*CONFIG_DIR_FLAGS, "--config-path", "-cp", "--config-name", "-cn"})
# Hydra's flags that print something and run no job.
PRINT_ONLY_FLAGS = frozenset(
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


def expand_mlproject_parameter(args, flag):
    """Splits `flag "a b"` (how MLproject passes a parameter: one word) like a shell would."""
    if len(args) == 2 and args[0] == flag:
        return shlex.split(args[1])
    return list(args)


def normalize(args):
    """Expands `--overrides "a=1 b=2"` (MLproject's way) and moves `-m` and `-cd DIR` to the front.

    `-m`/`--multirun` and `--config-dir DIR` may then stand anywhere among the
    overrides (Hydra's own parser takes them only before the overrides).
    """
    args = expand_mlproject_parameter(args, "--overrides")
    front, rest = [], []
    for arg, flag in _with_flags(args):
        moved = arg in (*MULTIRUN_FLAGS, *CONFIG_DIR_FLAGS) or arg.startswith(
            _JOINED_CONFIG_DIR_FLAGS
        )
        (front if moved or flag in CONFIG_DIR_FLAGS else rest).append(arg)
    return [*front, *rest]


def runs_jobs(args):
    """Whether the command line runs jobs, rather than only printing something."""
    return not PRINT_ONLY_FLAGS & set(args)


def overrides_of(args):
    """The `key=value` overrides among the arguments, in order."""
    return [
        arg
        for arg, flag in _with_flags(args)
        if flag is None and not arg.startswith("-") and "=" in arg
    ]


def config_dirs(args):
    """The folders `--config-dir DIR` (`-cd DIR`, `--config-dir=DIR`) adds, in order."""
    return [
        arg.partition("=")[2] if arg.startswith(_JOINED_CONFIG_DIR_FLAGS) else arg
        for arg, flag in _with_flags(args)
        if flag in CONFIG_DIR_FLAGS or arg.startswith(_JOINED_CONFIG_DIR_FLAGS)
    ]


def _with_flags(args):
    """Each argument with the flag whose value it is (`None` for the others)."""
    previous = None
    for arg in args:
        yield arg, previous if previous in _VALUE_FLAGS else None
        previous = arg
