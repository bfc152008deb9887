"""Run names that read in the MLflow UI: a sweep by what it varies, a job by its values.

Pure functions of Hydra override strings, so that they can be checked without
MLflow. A sweep's parent is named after when it started and the keys it sweeps
("11-25 18:48 · custom vs stock · units 32,128"); each job after its own
values of those keys only ("custom u128"), at most 32 characters and distinct
within its sweep; a single job after its overrides ("stock u256 e30").
"""

import collections
import hashlib
import time

from hydra.errors import HydraException

from custom_dense_lab.config.overrides import Override, parse

MAX_JOB_NAME = 32
SWEEP_TAG_PREFIX = "sweep."
# The parent's tag listing the keys its sweep varies, comma-separated, for the jobs to read.
SWEPT_KEYS_TAG = "custom_dense.swept_keys"
# Every job's command-line overrides, as one string.
OVERRIDES_TAG = "custom_dense.overrides"
# Keys that change how a job is run or recorded, never its result: left out of names.
_QUIET_KEY_PREFIXES = ("mlflow.", "trainer.verbose", "trainer.reuse", "pair_timing.")
_MAX_LISTED_VALUES = 4
_HASH_CHARS = 5
# How a job's name shows a key's value: a prefix before the value ("u" + "128").
_JOB_PREFIXES = {
    "layer": "",
    "model.units": "u",
    "model.depth": "d",
    "model.activation": "",
    "model.kernel_initializer": "",
    "model.bias_initializer": "bias:",
    "model.use_bias": "bias:",
    "seed": "s",
    "trainer.epochs": "e",
    "trainer.batch_size": "b",
    "trainer.precision": "",
    "optimizer": "",
    "optimizer.learning_rate": "lr",
    "optimizer.momentum": "mom",
    "dataset": "",
    "device": "",
    "backend": "",
    "trainer.jit_compile": "jit:",
}
# How a sweep's name labels a key ("units 32,128").
_SWEEP_LABELS = {
    "model.units": "units",
    "model.depth": "depth",
    "model.activation": "act",
    "model.kernel_initializer": "init",
    "model.bias_initializer": "bias init",
    "trainer.batch_size": "batch",
    "optimizer.learning_rate": "lr",
    "trainer.jit_compile": "jit",
}
_SHORT_VALUES = {
    "glorot_uniform": "glorotU",
    "glorot_normal": "glorotN",
    "he_normal": "heN",
    "he_uniform": "heU",
    "lecun_normal": "lecunN",
    "lecun_uniform": "lecunU",
    "random_normal": "randN",
    "random_uniform": "randU",
    "truncated_normal": "truncN",
    "orthogonal": "orth",
    "mixed_float16": "fp16",
    "mixed_bfloat16": "bf16",
    "float32": "fp32",
    "tensorflow": "tf",
}


def swept_values(task_overrides, sweeper_params=None):
    """The keys a sweep varies, each with the values it takes when they are listed.

    Args:
        task_overrides: The sweep's command line, as Hydra lists it
            (`hydra.overrides.task`), e.g. `["layer=custom,stock", "seed=0"]`.
        sweeper_params: The sweeper's `params` (a preset's grid, or an Optuna
            search space), `{key: sweep string}`; the command line wins for a
            key in both.

    Returns:
        `{key: [value, ...]}` in the order the sweep lists them, `layer` first;
        the list is `None` for a sweep over a range or an interval.
    """
    overrides = [f"{key}={value}" for key, value in (sweeper_params or {}).items()]
    by_key = {}
    for override in parse([*task_overrides, *overrides]):
        if override.key_or_group not in by_key:
            by_key[override.key_or_group] = override
    swept = {
        key: _listed_values(override)
        for key, override in by_key.items()
        if override.is_sweep_override() and not key.startswith(_QUIET_KEY_PREFIXES)
    }
    return dict(sorted(swept.items(), key=lambda item: item[0] != "layer"))


def sweep_name(swept, started=None):
    """Names a sweep's parent run after when it started and what it varies.

    The start comes first: the runs table cuts long names, and the time is
    what tells apart two sweeps of the same keys.

    Args:
        swept: `{key: [value, ...] or None}`, as `swept_values` returns it.
        started: Seconds since the epoch; default now.

    Returns:
        For example `"11-25 18:48 · custom vs stock · units 32,128"`.
    """
    parts = [_sweep_part(key, values) for key, values in swept.items()] or ["sweep"]
    return " · ".join([time.strftime("%m-%d %H:%M", time.localtime(started)), *parts])


def job_values(job_overrides, keys):
    """The job's value of each key, from its overrides (`HydraConfig.get().overrides.task`).

    Returns:
        `{key: value}` for every key of `keys` the overrides set, in the order of `keys`.
    """
    values = {o.key_or_group: _value_text(o) for o in parse(job_overrides)}
    return {key: values[key] for key in keys if key in values}


def job_name(values):
    """Names a job of a sweep by its values of the swept keys only.

    Tokens are short ("custom", "u128", "tanh", "lr0.001"). A name longer than
    32 characters keeps its first tokens and ends with a hash of all the
    values ("u128 d3 sigmoid glorotU #757e9"), so that names stay distinct
    within a sweep.

    Args:
        values: `{key: value}` of the swept keys, as `job_values` returns it.

    Returns:
        For example `"stock u32 tanh"`.
    """
    tokens = [_job_token(key, value) for key, value in values.items()]
    name = " ".join(tokens) or "job"
    if len(name) <= MAX_JOB_NAME:
        return name
    digest = "#" + hashlib.sha1(repr(sorted(values.items())).encode()).hexdigest()[:_HASH_CHARS]
    while len(" ".join([*tokens, digest])) > MAX_JOB_NAME:
        tokens.pop()
    return " ".join([*tokens, digest])


def single_job_name(layer, job_overrides):
    """Names a job run on its own: its layer and what its overrides change.

    Args:
        layer: The job's `layer` (`custom` or `stock`).
        job_overrides: The job's command-line overrides.

    Returns:
        For example `"stock u256 e30"`, at most 32 characters.
    """
    values = {"layer": layer}
    for override in parse(job_overrides):
        key = override.key_or_group
        if not key.startswith(_QUIET_KEY_PREFIXES) and not override.is_delete():
            values[key] = _value_text(override)
    name = " ".join(_job_token(key, value) for key, value in values.items())
    return name if len(name) <= MAX_JOB_NAME else name[: MAX_JOB_NAME - 1] + "…"


def numbered(labels):
    """The labels with each repeat numbered, in order: `custom, custom, stock` -> `custom, custom #2, stock`.

    A sweep that lists a value twice (`layer=custom,custom,stock`) runs two jobs
    with the same values; their names and report rows stay distinct this way,
    each at most `MAX_JOB_NAME` characters.
    """
    seen = collections.Counter()
    result = []
    for label in labels:
        seen[label] += 1
        suffix = f" #{seen[label]}" if seen[label] > 1 else ""
        result.append(label[: MAX_JOB_NAME - len(suffix)] + suffix if suffix else label)
    return result


def job_tags(values):
    """Tags that let the runs table group a sweep's jobs: `sweep.<key>` = the job's value."""
    return {f"{SWEEP_TAG_PREFIX}{key}": value for key, value in values.items()}


def _listed_values(override):
    try:
        return list(override.sweep_string_iterator())
    except HydraException:  # an interval, or a glob: no list to show
        return None


def _value_text(override: Override):
    return _format(override.value())


def _format(value):
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _job_token(key, value):
    short = _SHORT_VALUES.get(value, value)
    if key in _JOB_PREFIXES:
        return f"{_JOB_PREFIXES[key]}{short}"
    return f"{key.rsplit('.', 1)[-1].rsplit('/', 1)[-1]}={short}"


def _sweep_part(key, values):
    label = _SWEEP_LABELS.get(key, key.rsplit(".", 1)[-1])
    if values is None:
        return f"{label} searched"
    if key == "layer":
        return " vs ".join(values)
    shown = [_SHORT_VALUES.get(v, v) for v in values[:_MAX_LISTED_VALUES]]
    more = f",…(+{len(values) - _MAX_LISTED_VALUES})" if len(values) > _MAX_LISTED_VALUES else ""
    return f"{label} {','.join(shown)}{more}"
