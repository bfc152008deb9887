"""From a command line to every job's checked config, or one `ConfigError` line: Hydra's and
OmegaConf's errors become one line naming the key, the value and what is accepted."""

import dataclasses
import enum
import pathlib
import typing

import hydra
import yaml
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ConfigTypeError, ValidationError

from custom_dense_lab.config.command_line import parse, read
from custom_dense_lab.config.validation import validate_values
from custom_dense_lab.errors import ConfigError

_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
_REQUIRED = "a value: every key of the config is required (an optional group may go)"


def compose_command_line(args, config_dir):
    """Composes and checks a config for each row of the sweep's values (row i takes the i-th value
    of every swept key, shorter sweeps starting over); returns them, the first job's first, with
    `hydra`. Keras names are left to `validate_keras_names`.
    """
    parsed = read(args)
    given = {
        o.key_or_group: o for o in map(_parse, parsed.overrides)
    }  # the last value, as in Hydra
    values = {k: o.input_line.partition("=")[2] or o.input_line for k, o in given.items()}
    for key, override in given.items():
        if override.is_sweep_override() and not parsed.multirun:
            raise ConfigError(key, values[key], "one value (-m sweeps over several)")
    fixed = [o.input_line for o in given.values() if not o.is_sweep_override()]
    if folder := parsed.config_dir:  # added to the shipped folder
        if not pathlib.Path(folder).is_dir():
            raise ConfigError("--config-dir", folder, "an existing folder of config files")
        fixed.append(f"hydra.searchpath=[{pathlib.Path(folder).resolve().as_uri()}]")
    sweeps = [_values(o) for o in given.values() if o.is_discrete_sweep()]
    with hydra.initialize_config_dir(config_dir=str(config_dir)):
        configs = [_compose(fixed, [v[0] for v in sweeps], values)]
        preset = OmegaConf.select(configs[0], "hydra.sweeper.params") or {}
        for key, swept in preset.items():
            if (override := _parse(f"{key}={swept}")).is_discrete_sweep() and key not in given:
                sweeps.append(_values(override))
        rows = range(0 if preset else 1, max(map(len, sweeps), default=0))
        configs += [_compose(fixed, [v[i % len(v)] for v in sweeps], values) for i in rows]
    for cfg in configs:
        validate_values(cfg)
    return configs


def _values(override):
    return [f"{override.get_key_element()}={v}" for v in override.sweep_string_iterator()]


def _parse(text):
    try:
        (override,) = parse([text])
        return override
    except OverrideParseException as error:  # between where the override was and a link: why
        lines = str(error).splitlines()[1:-1]
        reason = next((line for line in lines if not line.startswith("Error parsing")), "")
        reason = reason.removeprefix("LexerNoViableAltException: ")
        quoting = "quote values with spaces, commas or non-ASCII letters, e.g. key='a b'"
        accepted = f"key=value in Hydra's override grammar ({reason}; {quoting})"
        raise ConfigError("override", text, accepted) from None


def _compose(fixed, row, values):
    """Composes one row; a failure inside a swept group names the group's value in the row."""
    values = values | dict(text.split("=", 1) for text in row)
    try:
        cfg = hydra.compose("config", overrides=[*fixed, *row], return_hydra_config=True)
        _check_keys(cfg, "", values)
        return cfg
    except MissingConfigException as error:  # a group's option, or a file, that is not there
        group, _, option = (error.missing_cfg_file or "").rpartition("/")
        options = ", ".join(n for n in error.options or () if n[0] != "_")
        if group and options:
            raise ConfigError(group, option, f"one of {options}") from None
        raise ConfigError("config", error.missing_cfg_file, "an existing config file") from None
    except yaml.YAMLError as error:  # a config file that is not YAML: where and why
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: {error.problem}" if mark else ""
        accepted = f"a YAML file ({where or ' '.join(str(error).split())})"
        raise ConfigError("config", getattr(mark, "name", None), accepted) from None
    except ConfigCompositionException as error:
        problem = _translate(error, values, " ".join([*fixed, *row]))
    except ConfigError as error:
        problem = error
    groups = " ".join(text for text in row if problem.key.startswith(f"{text.split('=')[0]}."))
    if groups:
        accepted = f"{problem.accepted} (in the sweep's jobs with {groups})"
        raise ConfigError(problem.key, problem.value, accepted)
    raise problem


def _check_keys(node, path, values):
    """Refuses a key the schema does not declare (`+key`, `++key`) or one it requires (`~key`)."""
    children, declared = dict(node.items_ex(resolve=False)), _declared(node)
    for key in [*children, *(name for name in declared or () if name not in children)]:
        if (full_key := f"{path}{key}") == "hydra":
            continue
        if declared is not None and key not in declared:
            raise ConfigError(full_key, values.get(full_key), _known_keys(node, full_key))
        if key not in children or OmegaConf.is_missing(node, key):
            raise ConfigError(full_key, values.get(full_key), _REQUIRED)
        if isinstance(children[key], DictConfig):
            _check_keys(children[key], f"{full_key}.", values)


def _translate(error, values, overrides):
    cause = error.__cause__
    key = getattr(cause, "full_key", None)
    value = values.get(key)
    if key and (isinstance(cause, ConfigTypeError) or str(value).startswith("~")):  # `~key`
        return ConfigError(key, value, _REQUIRED)
    if isinstance(cause, ConfigAttributeError | ConfigKeyError) and key:
        return ConfigError(key, value, _known_keys(cause.parent_node, key))
    if isinstance(cause, ValidationError) and key:
        owner = OmegaConf.get_type(cause.parent_node) if cause.parent_node is not None else None
        hints = typing.get_type_hints(owner) if dataclasses.is_dataclass(owner) else {}
        return ConfigError(key, value, _accepted(hints.get(key.rpartition(".")[2])))
    reason = " ".join(str(error).split())
    return ConfigError("override", overrides, f"overrides Hydra can apply ({reason})")


def _declared(node):
    """The keys the schema dataclass of `node` declares, or `None` for a node without one."""
    kind = OmegaConf.get_type(node) if isinstance(node, DictConfig) else None
    return [f.name for f in dataclasses.fields(kind)] if dataclasses.is_dataclass(kind) else None


def _known_keys(node, key):
    names = _declared(node) or [str(name) for name in node or ()]
    where = f"`{key.rpartition('.')[0]}` has" if "." in key else "its top-level keys are"
    return f"a key of the config; {where} {', '.join(sorted(n for n in names if n[0] != '_'))}"


def _accepted(declared):
    """`declared` in words: `an integer`, `one of a, b (0)`, `... or null`."""
    if optional := type(None) in typing.get_args(declared):  # the schema's unions: `X | None`
        declared = next(arg for arg in typing.get_args(declared) if arg is not type(None))
    words = _TYPE_WORDS.get(declared, "a valid value")
    if isinstance(declared, enum.EnumMeta):
        names = (f"{m.name} ({m.value})" if str(m.value).isdigit() else m.name for m in declared)
        words = f"one of {', '.join(names)}"
    return words + (" or null" if optional else "")
