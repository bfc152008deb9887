"""Every job's config from a command line, checked: each refusal one `ConfigError` line."""

import contextlib
import dataclasses
import enum
import functools
import importlib.util
import pathlib

import hydra
import yaml
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ConfigTypeError, ValidationError

from custom_dense_lab.config.command_line import parse, read
from custom_dense_lab.config.schema import MAX_ROUNDS, integer
from custom_dense_lab.errors import ConfigError

_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
_BACKEND_PACKAGES = {"tensorflow": ("tensorflow",), "jax": ("jax", "jaxlib"), "torch": ("torch",)}
_INT8 = "int4, float8, gptq, awq or null with trainer.precision=mixed_float16 (Keras quantizes int8 only under float32 or bfloat16 compute)"
_REQUIRED = "a value: every key of the config is required (an optional group may go)"


def compose_command_line(args, config_dir):
    """Each sweep row's config with `hydra`, checked; row i: each swept key's i-th value, cycled."""
    parsed = read(args)
    given = {o.key_or_group: o for o in map(_parse, parsed.overrides)}  # the last wins, as in Hydra
    values = {k: o.input_line.partition("=")[2] or o.input_line for k, o in given.items()}
    if not parsed.multirun and (swept := [k for k, o in given.items() if o.is_sweep_override()]):
        raise ConfigError(swept[0], values[swept[0]], "one value (-m sweeps over several)")
    fixed = [o.input_line for o in given.values() if not o.is_sweep_override()]
    if folder := parsed.config_dir:  # added to the shipped folder
        if not pathlib.Path(folder).is_dir():
            raise ConfigError("--config-dir", folder, "an existing folder of config files")
        fixed.append(f"hydra.searchpath=[{pathlib.Path(folder).resolve().as_uri()}]")
    texts = lambda o: [f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()]  # noqa: E731
    sweeps = [texts(o) for o in given.values() if o.is_discrete_sweep()]
    with hydra.initialize_config_dir(config_dir=str(config_dir)):
        configs = [_compose(fixed, [v[0] for v in sweeps], values)]
        preset = OmegaConf.select(configs[0], "hydra.sweeper.params") or {}
        for key, text in preset.items():
            if (override := _parse(f"{key}={text}")).is_discrete_sweep() and key not in given:
                sweeps.append(texts(override))
        rows = range(0 if preset else 1, max(map(len, sweeps), default=0))
        configs += [_compose(fixed, [v[i % len(v)] for v in sweeps], values) for i in rows]
    return configs


def _parse(text):
    try:
        return parse([text])[0]
    except OverrideParseException as error:  # between where the override was and a link: why
        lines = str(error).splitlines()[1:-1]
        reason = next((line for line in lines if not line.startswith("Error parsing")), "")
        reason = reason.removeprefix("LexerNoViableAltException: ")
        accepted = f"key=value in Hydra's override grammar ({reason}; quote values with spaces, commas or non-ASCII letters, e.g. key='a b')"
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
        value = values.get(key := getattr(cause, "full_key", None))
        if key and (isinstance(cause, ConfigTypeError) or str(value).startswith("~")):  # `~key`
            problem = ConfigError(key, value, _REQUIRED)
        elif key and isinstance(cause, ConfigAttributeError | ConfigKeyError):
            problem = ConfigError(key, value, _known_keys(cause.parent_node, key))
        elif key and isinstance(cause, ValidationError):  # the declared type, in words
            node = cause.parent_node._get_node(key.rpartition(".")[2])
            kind = node._metadata.ref_type  # `X | None` unwrapped
            words = _TYPE_WORDS.get(kind, "a valid value")
            if isinstance(kind, enum.EnumMeta):  # Verbosity's numbers too: `silent (0)`
                words = ", ".join(m.name + f" ({m.value})" * str(m.value).isdigit() for m in kind)
                words = f"one of {words}"
            problem = ConfigError(key, value, words + (" or null" if node._is_optional() else ""))
        else:
            reason = f"overrides Hydra can apply ({' '.join(str(error).split())})"
            problem = ConfigError("override", " ".join([*fixed, *row]), reason)
    except ConfigError as error:
        problem = error
    if groups := " ".join(t for t in row if problem.key.startswith(t.split("=")[0] + ".")):
        where = f"{problem.accepted} (in the sweep's jobs with {groups})"
        problem = ConfigError(problem.key, problem.value, where)
    raise problem


def _at_least(low, words=None, kinds=int):
    number = lambda v: isinstance(v, kinds) and not isinstance(v, bool)  # noqa: E731
    return words or f"an integer >= {low}", lambda value: number(value) and value >= low


_LAUNCHER = {  # the launchers' sizes, which they check only once launched (SLURM: at submission)
    **dict.fromkeys(("timeout_min", "nodes", "tasks_per_node", "cpus_per_task"), _at_least(1)),
    **dict.fromkeys(("mem_gb", "array_parallelism"), _at_least(1)),
    "gpus_per_node": _at_least(0),
    "n_jobs": ("a number of worker processes: 1 or more, or -1 for one per core", bool),
    "ray.remote.num_cpus": _at_least(0, "a number of CPUs >= 0", (int, float)),
    "ray.remote.num_gpus": _at_least(0, "a number of GPUs >= 0", (int, float)),
    "ray.remote.memory": _at_least(1, "null or a number of bytes > 0"),
    "ray.remote.max_retries": _at_least(-1, "an integer >= 0, or -1: no limit"),
}


def validate_values(cfg, given=None):
    """Raises `ConfigError` for the first key that cannot work (`given`: its command-line text)."""
    _check_node(cfg, "", given or {})
    for key, (words, test) in _LAUNCHER.items():
        if (value := OmegaConf.select(cfg, f"hydra.launcher.{key}")) is not None:
            _require(test(value), f"hydra.launcher.{key}", value, words)
    timing, data = cfg.pair_timing, cfg.dataset
    quantize, precision = cfg.quantize and cfg.quantize.name, cfg.trainer.precision.name
    _require((quantize, precision) != ("int8", "mixed_float16"), "quantize", "int8", _INT8)
    require_backend_installed(cfg.backend.value)
    if timing.rounds:
        _require_range("pair_timing.max_rounds", timing.max_rounds, timing.rounds, MAX_ROUNDS)
    if data.name == "synthetic":
        _require_range("dataset.n_classes", data.n_classes, 2, 2**data.n_features)
        _require_range("dataset.n_samples", data.n_samples, data.n_classes)
        n_test = round(data.n_samples * data.test_fraction)
        n_train = (n := data.n_samples - n_test) - max(1, round(n * data.val_fraction))
        accepted = "enough samples for a non-empty train, validation and test split"
        _require(n_test >= 1 and n_train >= 1, "dataset.n_samples", data.n_samples, accepted)


def _check_node(node, path, given):
    """Refuses a key the schema lacks (`+key`) or needs (`~key`), or a value `accepts` refuses."""
    kind = OmegaConf.get_type(node)
    fields = {f.name: f for f in dataclasses.fields(kind)} if dataclasses.is_dataclass(kind) else {}
    children = dict(node.items_ex(resolve=False))
    for key in [*children, *(name for name in fields if name not in children)]:
        if (full_key := f"{path}{key}") == "hydra":
            continue
        if fields and key not in fields:
            raise ConfigError(full_key, given.get(full_key), _known_keys(fields, full_key))
        if key not in children or OmegaConf.is_missing(node, key):
            raise ConfigError(full_key, given.get(full_key), _REQUIRED)
        if words_and_test := fields and fields[key].metadata.get("accepts"):
            _require(words_and_test[1](node[key]), full_key, node[key], words_and_test[0])
        if isinstance(children[key], DictConfig):
            _check_node(children[key], f"{full_key}.", given)


def _known_keys(names, key):
    names = sorted(n for n in map(str, names or ()) if n[0] != "_")
    where = f"`{key.rpartition('.')[0]}` has" if "." in key else "its top-level keys are"
    return f"a key of the config; {where} {', '.join(names)}"


def require_backend_installed(backend):
    """Raises `ConfigError` when the packages of a Keras backend are not installed here."""
    missing = [p for p in _BACKEND_PACKAGES[backend] if importlib.util.find_spec(p) is None]
    extra = "tensorflow-cpu" if backend == "tensorflow" else backend
    accepted = f"a backend installed here (missing: {', '.join(missing)}; pip install 'custom-dense[lab,{extra}]')"
    _require(not missing, "backend", backend, accepted)


def _require_range(key, value, low, high=None):
    words, test = integer(low, high).metadata["accepts"]
    _require(test(value), key, value, words)


def _require(ok, key, value, accepted):
    if not ok:
        raise ConfigError(key, value, accepted)


def validate_keras_names(cfg):
    """Raises `ConfigError` for an activation or initializer Keras does not have (imports Keras)."""
    _require_keras_name("model.activation", cfg.model.activation, None)
    _require_keras_name("model.kernel_initializer", cfg.model.kernel_initializer, (4, 4))
    _require_keras_name("model.bias_initializer", cfg.model.bias_initializer, (4,))


@functools.cache
def _require_keras_name(key, name, shape):
    """A Keras activation (`shape` None), or an initializer that can fill a weight of `shape`."""
    import keras

    found = None
    with contextlib.suppress(ValueError, TypeError):
        found = (keras.initializers if shape else keras.activations).get(name)
    if shape is None:
        ok = callable(found) and found.__module__.split(".")[:2] == ["keras", "src"]
        accepted = "the name of a Keras activation, e.g. relu, tanh, gelu, sigmoid, linear"
        return _require(ok, key, name, accepted)
    accepted = "the name of a Keras initializer, e.g. glorot_uniform, he_normal, orthogonal, zeros"
    _require(isinstance(found, keras.initializers.Initializer), key, name, accepted)
    try:
        found(shape)
    except (ValueError, TypeError) as error:
        reason = str(error).splitlines()[0]
        accepted = f"an initializer that can fill a {len(shape)}-D weight ({reason})"
        raise ConfigError(key, name, accepted) from None
