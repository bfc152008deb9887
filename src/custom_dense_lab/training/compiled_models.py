"""Compiled models shared by the jobs of one graph, so that a process traces each graph once: a
job's model lends the graph's compiled model its state, which trains, then takes it back."""

import json

import keras
from omegaconf import OmegaConf


def graph_key(cfg, element_spec):
    """What decides a job's compiled graph: everything but its seed and initial values."""
    model = {k: v for k, v in cfg.model.items() if not k.endswith("_initializer")}
    parts = [OmegaConf.to_container(cfg[k]) for k in ("layer", "optimizer", "device")]
    t = cfg.trainer
    settings = (t.batch_size, str(t.precision), t.deterministic, str(t.jit_compile).lower())
    return json.dumps([model, *parts, settings, repr(element_spec)], default=str)


def compiled_model_for(model, key, batch, reuse):
    """The compiled model of `key` in `reuse`, holding `model`'s state; the first model of a key
    becomes it, its loss and metric variables built on `batch` (a `tf.function` that creates
    variables traces twice)."""
    model.optimizer.build(model.trainable_variables)
    compiled = reuse.get("compiled models", key, lambda: model)
    if compiled is not model and _shapes(compiled) == _shapes(model):
        copy_state(model, compiled)
        return compiled
    features, labels = batch
    outputs = model(features, training=False)
    model.compute_loss(features, labels, outputs)
    model.compute_metrics(features, labels, outputs, sample_weight=None)
    model.reset_metrics()
    return reuse.put("compiled models", key, model)


def copy_state(source, target):
    """Assigns copies of `source`'s variables and optimizer variables to `target`'s: a JAX
    variable assigned another's value shares its buffer, which the next `fit` donates."""
    if source is not target:
        for to, value in zip(_state(target), _state(source), strict=True):
            to.assign(keras.ops.copy(value))


def _state(model):
    return [*model.variables, *model.optimizer.variables]


def _shapes(model):
    return [tuple(v.shape) for v in _state(model)]
