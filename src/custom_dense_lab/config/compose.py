"""From a command line to every job's checked config, or one `ConfigError` line: Hydra's and
OmegaConf's errors become one line naming the key, the value and what is accepted."""

import enum
import pathlib

import hydra
import yaml
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ConfigTypeError, ValidationError

from custom_dense_lab.config.command_line import parse, read
from custom_dense_lab.config.validation import REQUIRED, known_keys, validate_values
from custom_dense_lab.errors import ConfigError

_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


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
        validate_values(cfg, values)
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
        cause = error.__cause__
        key = getattr(cause, "full_key", None)
        value = values.get(key)
        if key and (isinstance(cause, ConfigTypeError) or str(value).startswith("~")):  # `~key`
            problem = ConfigError(key, value, REQUIRED)
        elif key and isinstance(cause, ConfigAttributeError | ConfigKeyError):
            problem = ConfigError(key, value, known_keys(cause.parent_node, key))
        elif key and isinstance(cause, ValidationError):  # the declared type, in words
            node = cause.parent_node._get_node(key.rpartition(".")[2])
            kind = node._metadata.ref_type  # `X | None` unwrapped
            words = _TYPE_WORDS.get(kind, "a valid value")
            if isinstance(kind, enum.EnumMeta):  # Verbosity's numbers too: `silent (0)`
                words = ", ".join(m.name + f" ({m.value})" * str(m.value).isdigit() for m in kind)
                words = f"one of {words}"
            problem = ConfigError(key, value, words + (" or null" if node._is_optional() else ""))
        else:
            reason = " ".join(str(error).split())
            problem = ConfigError(
                "override", " ".join([*fixed, *row]), f"overrides Hydra can apply ({reason})"
            )
    except ConfigError as error:
        problem = error
    groups = " ".join(text for text in row if problem.key.startswith(f"{text.split('=')[0]}."))
    if groups:
        accepted = f"{problem.accepted} (in the sweep's jobs with {groups})"
        raise ConfigError(problem.key, problem.value, accepted)
    raise problem
