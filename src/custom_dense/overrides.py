"""Checks command-line overrides before Hydra runs: group options and value types.

Hydra would catch both, with several lines each; this says it in one line that
names the key, the value and what is accepted, for every value of a sweep.
"""

import dataclasses
import pathlib
import shlex
import types
import typing

import hydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from custom_dense import schema
from custom_dense.errors import ConfigError

_MULTIRUN_FLAGS = ("-m", "--multirun")
_OPTUNA_STORAGE_KEY = "hydra.sweeper.storage"
_OPTUNA_STORAGE_ACCEPTED = (
    "null: optuna 2.10 keeps the study in memory (its database storage needs SQLAlchemy 1, "
    "MLflow 3 needs SQLAlchemy 2)"
)
_TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def expand_mlproject_parameter(args, flag):
    """Splits `flag "a b"` (how MLproject passes a parameter: one word) like a shell would."""
    if len(args) == 2 and args[0] == flag:
        return shlex.split(args[1])
    return list(args)


def split_mlproject_args(args):
    """Expands `--overrides "a=1 b=2"` (how MLproject passes them) into separate arguments.

    `-m`/`--multirun` moves to the front, so that it may stand anywhere among
    the overrides (Hydra's own parser takes it only before or after them all).
    """
    args = expand_mlproject_parameter(args, "--overrides")
    flags = [arg for arg in args if arg in _MULTIRUN_FLAGS]
    return [*flags, *(arg for arg in args if arg not in _MULTIRUN_FLAGS)]


def check_overrides(args, config_dir):
    """Raises `ConfigError` for the first override whose value cannot be composed.

    Args:
        args: Command-line arguments; those of the form `key=value` are checked.
        config_dir: The Hydra config folder, whose sub-folders are the groups.
    """
    groups = _group_options(pathlib.Path(config_dir))
    types_by_key = _schema_types()
    for _, override in _parse_each(args):
        if override is None or override.is_delete():
            continue
        key = override.key_or_group.removeprefix("+")
        for value in _values(override):
            if key == _OPTUNA_STORAGE_KEY and value is not None:
                raise ConfigError(key, value, _OPTUNA_STORAGE_ACCEPTED)
            if key in groups and value not in groups[key]:
                raise ConfigError(key, value, f"one of {', '.join(sorted(groups[key]))}")
            if key in types_by_key and not _fits(value, types_by_key[key]):
                raise ConfigError(key, value, _accepted(types_by_key[key]))


def compose_fixed_part(args, config_dir):
    """Composes the config every job of the command shares: its overrides minus sweeps.

    Args:
        args: Command-line arguments, as `check_overrides` takes them.
        config_dir: The Hydra config folder.

    Returns:
        The composed config, or `None` when it does not compose (Hydra will
        then say why, with the full command line).
    """
    fixed = []
    for arg, override in _parse_each(args):
        if override is None:
            return None
        if not override.is_sweep_override() and not override.key_or_group.startswith("hydra"):
            fixed.append(arg)
    try:
        with hydra.initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
            return hydra.compose(config_name="config", overrides=fixed)
    except (HydraException, OmegaConfBaseException):
        return None


def _parse_each(args):
    """Yields `(arg, override)` for each `key=value` argument; `None` where Hydra cannot parse it."""
    parser = OverridesParser.create()
    for arg in args:
        if arg.startswith("-") or "=" not in arg:
            continue
        try:
            (override,) = parser.parse_overrides([arg])
        except HydraException:
            override = None
        yield arg, override


def _values(override):
    if override.is_sweep_override():
        try:
            return list(override.sweep_iterator())
        except HydraException:
            return []
    return [override.value()]


def _group_options(config_dir):
    return {
        folder.name: {path.stem for path in folder.glob("*.yaml") if not path.stem.startswith("_")}
        for folder in config_dir.iterdir()
        if folder.is_dir()
    }


def _schema_types():
    found = {}

    def walk(cls, prefix):
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):
            hint = hints[field.name]
            if dataclasses.is_dataclass(hint):
                walk(hint, f"{prefix}{field.name}.")
            else:
                found[f"{prefix}{field.name}"] = hint

    walk(schema.Config, "")
    for group, cls in (*schema.GROUP_SCHEMAS.items(), ("dataset", schema.SyntheticDatasetConfig)):
        walk(cls, f"{group}.")
    return found


def _fits(value, hint):
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None:
        return type(None) in allowed
    for kind in allowed:
        if kind is str:
            return True
        if kind is bool and isinstance(value, bool):
            return True
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
            return True
    return False


def _accepted(hint):
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    words = [_TYPE_NAMES.get(kind, "null") for kind in allowed if kind is not type(None)]
    return " or ".join(words) + (" or null" if type(None) in allowed else "")
