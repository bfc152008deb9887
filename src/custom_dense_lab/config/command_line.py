"""The command line of `custom-dense-train`, as users and MLproject pass it."""

import shlex

MULTIRUN_FLAGS = ("-m", "--multirun")
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
    """Expands `--overrides "a=1 b=2"` (MLproject's way) and moves `-m` to the front.

    `-m`/`--multirun` may then stand anywhere among the overrides (Hydra's own
    parser takes it only before or after them all).
    """
    args = expand_mlproject_parameter(args, "--overrides")
    flags = [arg for arg in args if arg in MULTIRUN_FLAGS]
    return [*flags, *(arg for arg in args if arg not in MULTIRUN_FLAGS)]


def runs_jobs(args):
    """Whether the command line runs jobs, rather than only printing something."""
    return not PRINT_ONLY_FLAGS & set(args)


def overrides_of(args):
    """The `key=value` overrides among the arguments, in order."""
    return [arg for arg in args if not arg.startswith("-") and "=" in arg]
