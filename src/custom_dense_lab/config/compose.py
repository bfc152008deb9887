"""One validation path: from command-line overrides to checked configs, or one `ConfigError`.

Every config problem is found before any job runs, for every value a sweep
takes (on the command line and in a preset's `hydra.sweeper.params`): Hydra
composes the first job's config (the overrides that do not sweep and the first
value of each command-line sweep: it holds the preset's sweep), then the config
with the first value of every swept key, with the second, and so on, shorter
sweeps starting over. What Hydra and OmegaConf report (the override grammar,
an unknown group option, an unknown key, a wrong type) is turned into one
line that names the key, the value and what is accepted; `validate_values`
then checks the values of each composed config (and the program checks their
Keras names once Keras has loaded: `validate_keras_names`).
"""

import dataclasses
import enum
import pathlib
import types
import typing

import hydra
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

from custom_dense_lab.config import overrides as override_text
from custom_dense_lab.config.command_line import config_dirs, overrides_of
from custom_dense_lab.config.validation import validate_values
from custom_dense_lab.errors import ConfigError

_OPTUNA_STORAGE_KEY = "hydra.sweeper.storage"
_OPTUNA_STORAGE_ACCEPTED = (
    "null: optuna 2.10 keeps the study in memory (its database storage needs SQLAlchemy 1, "
    "MLflow 3 needs SQLAlchemy 2)"
)
_ABSENT = object()
_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def compose_command_line(args, config_dir):
    """Composes and checks the config of every job the command line would run, Keras names aside.

    The schemas must be registered (`schema.register_schemas()`). The Keras
    names need Keras, and so the backend: `custom-dense-train` checks them
    (`validation.validate_keras_names`) once the rest passed and TensorFlow
    has loaded, and so refuses any other mistake seconds sooner.

    Args:
        args: Normalized command-line arguments (see `command_line.normalize`).
        config_dir: The shipped Hydra config folder; folders that `--config-dir`
            adds among `args` are searched too.

    Returns:
        The jobs' configs, each checked by `validation.validate_values`: first
        the first job's (the overrides that do not sweep, and the first value of
        each that does), with Hydra's own config under `hydra`.

    Raises:
        ConfigError: For the first override or value that cannot work.
    """
    overrides = [(text, _parse(text)) for text in overrides_of(args)]
    _check_given_once(overrides)
    fixed = [text for text, override in overrides if not override.is_sweep_override()]
    fixed += _search_path(config_dirs(args))
    with hydra.initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        _check_added_keys(overrides, fixed)
        # The first job's config: a key of one group option is checked with that option.
        first_values = [values[0] for values in _values(_discrete_sweeps(overrides))]
        base = _compose_row(fixed, first_values, overrides)
        configs = [base]
        sweeps = _values(_discrete_sweeps(overrides, base))
        configs += [_compose_row(fixed, row, overrides) for row in _rows(sweeps)]
    for cfg in configs:
        _check_hydra_settings(cfg)
        validate_values(cfg)
    return configs


def _check_given_once(overrides):
    """Refuses a key given twice: Hydra would take the last value without a word."""
    first = {}
    for text, override in overrides:
        key = override.key_or_group
        if key in first:
            raise ConfigError(
                key,
                override_text.raw_value(override),
                f"one value per key on the command line; {key} is also given as {first[key]!r}",
            )
        first[key] = text


def _search_path(folders):
    """The override that adds the user's config folders (`--config-dir`) to the shipped one."""
    for folder in folders:
        if not pathlib.Path(folder).is_dir():
            raise ConfigError("--config-dir", folder, "an existing folder of config files")
    if not folders:
        return []
    return [f"hydra.searchpath=[{','.join(pathlib.Path(f).resolve().as_uri() for f in folders)}]"]


def _rows(sweeps):
    """The first value of every sweep, then the second, ...; shorter sweeps start over."""
    longest = max(map(len, sweeps), default=0)
    return [[values[i % len(values)] for values in sweeps] for i in range(longest)]


def _values(sweeps):
    """Each swept override's values, as `key=value` overrides."""
    return [
        [f"{override.get_key_element()}={value}" for value in override.sweep_string_iterator()]
        for override in sweeps
    ]


def _compose_row(fixed, values, overrides):
    """Composes one row of sweep values; a failure Hydra ties to no key is traced to a value.

    A failure about a key inside a swept group names the group's value, since
    the same override may work with its other values (`dataset.n_samples`
    with `dataset=synthetic`, not with `dataset=digits`).

    Args:
        fixed: The overrides that do not sweep.
        values: One value of each swept key, as `key=value` overrides.
        overrides: Every override of the command line, `(text, parsed)`, to
            name the value of a key a failure is about.
    """
    row = [(text, _parse(text)) for text in values]
    try:
        return _compose([*fixed, *values], [*row, *overrides])
    except ConfigError as error:
        if error.key == "override" and len(values) > 1:
            for value in values:
                _compose([*fixed, value], [(value, _parse(value))])
        others = [text for text, override in row if _holds(override.key_or_group, error.key)]
        if not others:
            raise
        raise ConfigError(
            error.key,
            error.value,
            f"{error.accepted} (in the sweep's jobs with {' '.join(others)})",
        ) from None


def _holds(group, key):
    """Whether `key` lies inside the config group (or section) `group`."""
    return key.startswith(f"{group}.")


def _parse(text):
    try:
        override = override_text.parse_one(text)
    except OverrideParseException as error:
        reason = str(error).splitlines()[0].removeprefix("LexerNoViableAltException: ")
        raise ConfigError(
            "override",
            text,
            f"key=value in Hydra's override grammar ({reason}; quote values with spaces, "
            "commas or non-ASCII letters, e.g. key='a b')",
        ) from None
    return override


def _compose(texts, overrides):
    try:
        return hydra.compose("config", overrides=texts, return_hydra_config=True)
    except MissingConfigException as error:
        raise _unknown_option(error) from None
    except ConfigCompositionException as error:
        raise _translate(error, overrides) from None


def _unknown_option(error):
    group, _, option = (error.missing_cfg_file or "").rpartition("/")
    options = [name for name in error.options or () if not name.startswith("_")]
    if not group or not options:
        return ConfigError("config", error.missing_cfg_file, "an existing config file")
    return ConfigError(group, option, f"one of {', '.join(options)}")


def _translate(error, overrides):
    cause = error.__cause__
    key = getattr(cause, "full_key", None)
    value = _value_of(key, overrides)
    if isinstance(cause, ConfigAttributeError | ConfigKeyError) and key:
        return ConfigError(key, value, _known_keys(cause.parent_node, key))
    if isinstance(cause, ValidationError) and key:
        declared = _declared_type(cause.parent_node, key.rpartition(".")[2])
        return ConfigError(key, value, _accepted(declared) if declared else "a valid value")
    first_line = str(error).splitlines()[0]
    return ConfigError("override", " ".join(text for text, _ in overrides), first_line)


def _value_of(key, overrides):
    for _, override in overrides:
        if override.key_or_group.lstrip("+") == key:
            return override_text.raw_value(override)
    return None


def _known_keys(parent, key):
    section = key.rpartition(".")[0]
    if not isinstance(parent, DictConfig):
        return "a key of the config"
    keys = ", ".join(sorted(str(name) for name in parent if not str(name).startswith("_")))
    where = f"`{section}` has" if section else "its top-level keys are"
    return f"a key of the config; {where} {keys}"


def _declared_type(parent, field):
    """The type the schema's dataclass declares for `field` of `parent`, else `None`."""
    owner = OmegaConf.get_type(parent) if isinstance(parent, DictConfig) else None
    if owner is None or not dataclasses.is_dataclass(owner):
        return None
    return typing.get_type_hints(owner).get(field)


def _accepted(declared):
    kind, optional = declared, False
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        optional = type(None) in typing.get_args(kind)
        kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        words = "one of " + ", ".join(
            member.name
            if isinstance(member.value, str) or member.value < 0
            else f"{member.name} ({member.value})"
            for member in kind
        )
    else:
        words = _TYPE_WORDS.get(kind, "a valid value")
    return words + (" or null" if optional else "")


def _check_added_keys(overrides, fixed):
    """Refuses `+key=...` and `++key=...` that would add a key the schema does not have.

    Whether the key exists is judged on the config composed without such overrides.
    """
    loader = GlobalHydra.instance().config_loader()
    adding = []
    for text, override in overrides:
        key = override.key_or_group
        is_group = key.startswith("hydra") or bool(loader.get_group_options(key))
        if (override.is_add() or override.is_force_add()) and not is_group:
            adding.append((text, override))
    if not adding:
        return
    added_texts = {text for text, _ in adding}
    base = _compose([text for text in fixed if text not in added_texts], overrides)
    for _, override in adding:
        key = override.key_or_group
        if override.is_add() or OmegaConf.select(base, key, default=_ABSENT) is _ABSENT:
            parent = OmegaConf.select(base, key.rpartition(".")[0]) if "." in key else base
            raise ConfigError(key, override_text.raw_value(override), _known_keys(parent, key))


def _discrete_sweeps(overrides, base=None):
    """The swept overrides whose values can be listed: the command line's, and the preset's of `base`."""
    sweeps = [override for _, override in overrides if override.is_discrete_sweep()]
    preset = (OmegaConf.select(base, "hydra.sweeper.params") if base is not None else None) or {}
    swept_keys = {override.key_or_group for override in sweeps}
    for key, values in preset.items():
        if key not in swept_keys and isinstance(values, str):
            override = _parse(f"{key}={values}")
            if override.is_discrete_sweep():
                sweeps.append(override)
    return sweeps


def _check_hydra_settings(cfg):
    storage = OmegaConf.select(cfg, _OPTUNA_STORAGE_KEY)
    if storage is not None:
        raise ConfigError(_OPTUNA_STORAGE_KEY, storage, _OPTUNA_STORAGE_ACCEPTED)
