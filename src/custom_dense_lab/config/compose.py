"""From a command line to every job's checked config, or one `ConfigError` line.

Hydra's and OmegaConf's errors become one line naming the key, the value and what is accepted.
"""

import dataclasses
import enum
import pathlib
import typing

import hydra
import yaml
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

from custom_dense_lab.config.command_line import MULTIRUN_FLAGS, config_dirs, overrides_of
from custom_dense_lab.config.overrides import parse, raw_value
from custom_dense_lab.config.schema import Config
from custom_dense_lab.config.validation import validate_values
from custom_dense_lab.errors import ConfigError

_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
_FRAMING = ("Error when parsing index", "Error parsing override", "See https://")


def compose_command_line(args, config_dir):
    """Composes and checks a config for each row of the sweep's values (row i takes the i-th value
    of every swept key, shorter sweeps starting over); returns them, the first job's first, with
    `hydra`. Keras names are left to `validate_keras_names`.
    """
    given = {}  # a key given twice takes its last value, as in Hydra
    multirun = any(arg in MULTIRUN_FLAGS for arg in args)
    for override in map(_parse, overrides_of(args)):
        _check_prefix(override, pathlib.Path(config_dir) / override.key_or_group)
        if override.is_sweep_override() and not multirun:
            accepted = "one value (-m sweeps over several)"
            raise ConfigError(override.key_or_group, raw_value(override), accepted)
        given.pop(override.key_or_group, None)
        given[override.key_or_group] = override
    fixed = [o.input_line for o in given.values() if not o.is_sweep_override()]
    for folder in (folders := config_dirs(args)):
        if not pathlib.Path(folder).is_dir():
            raise ConfigError("--config-dir", folder, "an existing folder of config files")
    if folders:  # added to the shipped folder
        uris = ",".join(pathlib.Path(folder).resolve().as_uri() for folder in folders)
        fixed.append(f"hydra.searchpath=[{uris}]")
    sweeps = [_values(o) for o in given.values() if o.is_discrete_sweep()]
    with hydra.initialize_config_dir(config_dir=str(config_dir)):
        configs = [_compose(fixed, [values[0] for values in sweeps], given)]
        preset = OmegaConf.select(configs[0], "hydra.sweeper.params") or {}
        for key, values in preset.items():
            override = _parse(f"{key}={values}")
            if override.is_discrete_sweep() and key not in given:
                sweeps.append(_values(override))
        rows = range(0 if preset else 1, max(map(len, sweeps), default=0))
        configs += [_compose(fixed, [v[i % len(v)] for v in sweeps], given) for i in rows]
    for cfg in configs:
        validate_values(cfg)
    return configs


def _check_prefix(override, group_folder):
    """Refuses `~key` of a key the config requires, and `+key` of a key it has (its schema's)."""
    key, value = override.key_or_group, raw_value(override)
    declared = _schema_type(key)
    if override.is_add() and declared is not None:
        why = f"the config has {key}; + adds a key it does not have"
        raise ConfigError(key, value, f"{key}={value} without the + ({why})")
    if not override.is_delete() or (declared is None and group_folder.is_dir()):
        return  # an optional group (hparams_search, a launcher) may go
    if group_folder.is_dir():
        instead = f"choose an option ({key}=...)"
    elif dataclasses.is_dataclass(declared):
        instead = f"set one of its keys ({key}.{dataclasses.fields(declared)[0].name}=...)"
    else:
        instead = f"set it ({key}=...)"
    accepted = f"a value: every key of the config is required; {instead} instead of removing it"
    raise ConfigError(key, override.input_line, accepted)


def _schema_type(key):
    """What the schema declares at the dotted `key`: a section's dataclass or a type; else `None`."""
    node = Config
    for name in key.split("."):
        node = typing.get_type_hints(node).get(name) if dataclasses.is_dataclass(node) else None
    return node


def _values(override):
    return [f"{override.get_key_element()}={v}" for v in override.sweep_string_iterator()]


def _parse(text):
    try:
        (override,) = parse([text])
        return override
    except OverrideParseException as error:
        # Hydra 1.4 opens with where the override was and closes with a link: the reason is between.
        lines = [line for line in str(error).splitlines() if not line.startswith(_FRAMING)]
        reason = (lines or [str(error)])[0].removeprefix("LexerNoViableAltException: ")
        quoting = "quote values with spaces, commas or non-ASCII letters, e.g. key='a b'"
        accepted = f"key=value in Hydra's override grammar ({reason}; {quoting})"
        raise ConfigError("override", text, accepted) from None


def _compose(fixed, row, given):
    """Composes one row; a failure inside a swept group names the group's value in the row."""
    values = {o.key_or_group: raw_value(o) for o in given.values()}
    values.update(text.split("=", 1) for text in row)
    try:
        cfg = hydra.compose("config", overrides=[*fixed, *row], return_hydra_config=True)
        _check_declared(cfg, "", values)
        return cfg
    except MissingConfigException as error:  # a group's option, or a file, that is not there
        group, _, option = (error.missing_cfg_file or "").rpartition("/")
        options = [name for name in error.options or () if not name.startswith("_")]
        if not group or not options:
            raise ConfigError("config", error.missing_cfg_file, "an existing config file") from None
        raise ConfigError(group, option, f"one of {', '.join(options)}") from None
    except yaml.YAMLError as error:  # a config file that is not YAML: where and why
        mark = getattr(error, "problem_mark", None)
        if mark is None:
            raise ConfigError("config", None, f"YAML files that parse ({error})") from None
        where = f"line {mark.line + 1}, column {mark.column + 1}: {error.problem or 'not YAML'}"
        raise ConfigError("config", mark.name, f"a YAML file ({where})") from None
    except ConfigCompositionException as error:
        problem = _translate(error, values, " ".join([*fixed, *row]))
    except ConfigError as error:
        problem = error
    groups = " ".join(text for text in row if problem.key.startswith(f"{text.split('=')[0]}."))
    if groups:
        accepted = f"{problem.accepted} (in the sweep's jobs with {groups})"
        raise ConfigError(problem.key, problem.value, accepted)
    raise problem


def _check_declared(node, path, values):
    """Refuses a key its schema does not declare (added by `+key` or `++key`)."""
    declared = _declared_keys(node)
    for key, child in node.items_ex(resolve=False):
        if (full_key := f"{path}{key}") == "hydra":
            continue
        if declared is not None and key not in declared:
            raise ConfigError(full_key, values.get(full_key), _known_keys(node, full_key))
        if isinstance(child, DictConfig):
            _check_declared(child, f"{full_key}.", values)


def _translate(error, values, overrides):
    cause = error.__cause__
    key = getattr(cause, "full_key", None)
    if isinstance(cause, ConfigAttributeError | ConfigKeyError) and key:
        return ConfigError(key, values.get(key), _known_keys(cause.parent_node, key))
    if isinstance(cause, ValidationError) and key:
        owner = OmegaConf.get_type(cause.parent_node) if cause.parent_node is not None else None
        hints = typing.get_type_hints(owner) if dataclasses.is_dataclass(owner) else {}
        return ConfigError(key, values.get(key), _accepted(hints.get(key.rpartition(".")[2])))
    accepted = f"overrides Hydra can apply ({str(error).splitlines()[0]})"
    return ConfigError("override", overrides, accepted)


def _declared_keys(node):
    """The keys the schema dataclass of `node` declares, or `None` for a node without one."""
    schema = OmegaConf.get_type(node) if isinstance(node, DictConfig) else None
    if dataclasses.is_dataclass(schema):
        return [f.name for f in dataclasses.fields(schema)]
    return None


def _known_keys(node, key):
    """What a key inside `node` may be: the keys its schema declares, else those it has."""
    names = _declared_keys(node) or ([str(n) for n in node] if isinstance(node, DictConfig) else [])
    if not names:
        return "a key of the config"
    section = key.rpartition(".")[0]
    where = f"`{section}` has" if section else "its top-level keys are"
    return f"a key of the config; {where} {', '.join(sorted(n for n in names if n[0] != '_'))}"


def _accepted(declared):
    """`declared` in words: `an integer`, `one of a, b (0)`, `... or null`."""
    optional = type(None) in typing.get_args(declared)  # the schema's only unions: `X | None`
    if optional:
        declared = next(arg for arg in typing.get_args(declared) if arg is not type(None))
    if isinstance(declared, type) and issubclass(declared, enum.Enum):
        words = "one of " + ", ".join(
            m.name if isinstance(m.value, str) or m.value < 0 else f"{m.name} ({m.value})"
            for m in declared
        )
    else:
        words = _TYPE_WORDS.get(declared, "a valid value")
    return words + (" or null" if optional else "")
