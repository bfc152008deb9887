"""Compiled models shared by the jobs of one graph, so that a process traces each graph once.

Jobs whose models differ only in seed or initial values train through one
compiled model: a job's own model lends it its initial weights and optimizer
state, the compiled model trains, and the job's model gets the trained state
back. The same graph from the same state on the same data: a job's results do
not depend on the jobs before it. The models live in the job's `ProcessReuse`.
"""

import json

import keras
from omegaconf import OmegaConf

_INITIAL_VALUES_ONLY = ("kernel_initializer", "bias_initializer")


def graph_key(cfg, element_spec):
    """What decides a job's compiled graph: everything but its seed and initial values."""
    model = OmegaConf.to_container(cfg.model)
    for name in _INITIAL_VALUES_ONLY:
        model.pop(name, None)
    trainer = cfg.trainer
    parts = {
        "model": model,
        "layer": OmegaConf.to_container(cfg.layer),
        "optimizer": OmegaConf.to_container(cfg.optimizer),
        "device": OmegaConf.to_container(cfg.device),
        "trainer": [
            trainer.batch_size,
            str(trainer.precision),
            trainer.deterministic,
            str(trainer.get("jit_compile", "auto")).lower(),
        ],
        "data": repr(element_spec),
    }
    return json.dumps(parts, sort_keys=True, default=str)


def compiled_model_for(model, key, batch, reuse):
    """The model to train `model` with: the compiled model of `key`, holding `model`'s state.

    The first model of a key becomes its compiled model, with its loss and
    metric variables built up front (a `tf.function` that creates variables
    traces twice). Later models copy their state into it; `copy_state(compiled,
    model)` gives the trained state back.
    """
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
    """Assigns copies of `source`'s variables and optimizer variables to `target`'s, in order.

    Copies: a JAX variable assigned another's value shares its buffer, which the
    compiled model's next `fit` or `evaluate` donates, deleting it under the other.
    """
    if source is target:
        return
    for to, value in zip(_state(target), _state(source), strict=True):
        to.assign(keras.ops.copy(value))


def _state(model):
    return [*model.variables, *model.optimizer.variables]


def _shapes(model):
    return [tuple(v.shape) for v in _state(model)]
