"""Run names from Hydra overrides: a sweep's parent by when it started and what it varies
("11-25 18:48 · custom vs stock · units 32,128"), its jobs by their values of those keys
("custom u128"), a single job by its layer and overrides ("stock u256 e30")."""

import collections
import hashlib
import time

from hydra.errors import HydraException

from custom_dense_lab.config.command_line import parse

MAX_JOB_NAME = 32
SWEPT_KEYS_TAG = "custom_dense.swept_keys"  # the keys a sweep varies, comma-separated
OVERRIDES_TAG = "custom_dense.overrides"
# Keys that change how a job is run or recorded, never its result: left out of names.
_QUIET_KEY_PREFIXES = ("mlflow.", "trainer.verbose", "trainer.reuse", "pair_timing.")
# How a job's name shows a key's value ("u128"); other keys as "key=value".
_JOB_PREFIXES = {
    **dict.fromkeys(["layer", "model.activation", "model.kernel_initializer", "optimizer"], ""),
    **dict.fromkeys(["trainer.precision", "dataset", "device", "backend"], ""),
    **dict.fromkeys(["model.bias_initializer", "model.use_bias"], "bias:"),
    **{"model.units": "u", "model.depth": "d", "seed": "s", "trainer.epochs": "e"},
    **{"trainer.batch_size": "b", "optimizer.learning_rate": "lr"},
    **{"optimizer.momentum": "mom", "trainer.jit_compile": "jit:"},
}
# How a sweep's name labels a key ("act relu,tanh"); other keys by their last part ("units").
_SWEEP_LABELS = {
    **{"model.activation": "act", "model.kernel_initializer": "init", "trainer.jit_compile": "jit"},
    **{"model.bias_initializer": "bias init", "trainer.batch_size": "batch"},
    "optimizer.learning_rate": "lr",
}
_SHORT_VALUES = {
    **{"glorot_uniform": "glorotU", "glorot_normal": "glorotN", "orthogonal": "orth"},
    **{"he_normal": "heN", "he_uniform": "heU", "lecun_normal": "lecunN"},
    **{"lecun_uniform": "lecunU", "random_normal": "randN", "random_uniform": "randU"},
    **{"truncated_normal": "truncN", "mixed_float16": "fp16", "mixed_bfloat16": "bf16"},
    **{"float32": "fp32", "tensorflow": "tf"},
}


def swept_values(task_overrides, sweeper_params=None):
    """The keys a sweep varies, `layer` first, with their listed values (`None` for an interval),
    from its command line and, where that does not set the key, its sweeper's `params`."""
    overrides = [f"{key}={value}" for key, value in (sweeper_params or {}).items()]
    by_key = {}
    for override in parse([*task_overrides, *overrides]):
        by_key.setdefault(override.key_or_group, override)
    swept = {}
    for key, override in by_key.items():
        if override.is_sweep_override() and not key.startswith(_QUIET_KEY_PREFIXES):
            try:
                swept[key] = list(override.sweep_string_iterator())
            except HydraException:  # an interval, or a glob: no list to show
                swept[key] = None
    return dict(sorted(swept.items(), key=lambda item: item[0] != "layer"))


def sweep_name(swept, started=None):
    """A sweep's name from `swept_values`, its start (default: now) first (docs/runs.md)."""
    parts = []
    for key, values in swept.items():
        label = _SWEEP_LABELS.get(key, key.rsplit(".", 1)[-1])
        if values is None or key == "layer":
            parts.append(f"{label} searched" if values is None else " vs ".join(values))
            continue
        more = f",…(+{len(values) - 4})" if len(values) > 4 else ""
        parts.append(f"{label} {','.join(_SHORT_VALUES.get(v, v) for v in values[:4])}{more}")
    when = time.strftime("%m-%d %H:%M", time.localtime(started))
    return " · ".join([when, *(parts or ["sweep"])])


def job_values(job_overrides, keys=None):
    """`{key: value}` that the job's overrides set for each of `keys`, in their order; without
    `keys`, for each key that may change its result."""
    values = {o.key_or_group: _value_text(o) for o in parse(job_overrides) if not o.is_delete()}
    if keys is None:
        return {k: v for k, v in values.items() if not k.startswith(_QUIET_KEY_PREFIXES)}
    return {key: values[key] for key in keys if key in values}


def job_name(values):
    """A job named by its values ("stock u32 tanh"); past `MAX_JOB_NAME`, its first tokens and a
    hash of all values ("u128 d3 sigmoid glorotU #757e9"), distinct in its sweep."""
    tokens = []
    for key, value in values.items():
        short = _SHORT_VALUES.get(value, value)
        name = key.rsplit(".", 1)[-1].rsplit("/", 1)[-1]
        tokens.append(f"{_JOB_PREFIXES[key]}{short}" if key in _JOB_PREFIXES else f"{name}={short}")
    if len(" ".join(tokens)) <= MAX_JOB_NAME:
        return " ".join(tokens) or "job"
    digest = "#" + hashlib.sha1(repr(sorted(values.items())).encode()).hexdigest()[:5]
    while len(" ".join([*tokens, digest])) > MAX_JOB_NAME:
        tokens.pop()
    return " ".join([*tokens, digest])


def numbered(labels):
    """The labels with each repeat numbered: `custom, custom, stock` -> `custom, custom #2, stock`."""
    seen, result = collections.Counter(), []
    for label in labels:
        seen[label] += 1
        suffix = f" #{seen[label]}"
        result.append(label[: MAX_JOB_NAME - len(suffix)] + suffix if seen[label] > 1 else label)
    return result


def _value_text(override):
    value = override.value()
    text = f"{value:.3g}" if isinstance(value, float) else str(value)
    return text.lower() if isinstance(value, bool) else text
