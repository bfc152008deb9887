"""Compiled models shared by the jobs of one graph, so that a graph is traced once per process.

Keras traces a model's train, test and forward functions the first time it
fits (most of a job's first epoch). Jobs of a sweep whose models share one
graph (they differ only in seed or initializers) can train through the same
compiled model: the job's freshly built model lends it its initial weights
and optimizer state, the compiled model trains, and the job's model gets the
trained state back. What trains is the same graph from the same state on the
same data, so a job's results do not depend on which jobs ran before it.
The models are kept in the job's `ProcessReuse` (`custom_dense_lab.process.reuse`).
"""

import json

from omegaconf import OmegaConf

# Model keys that only choose initial values: jobs differing in them share one graph.
_INITIAL_VALUES_ONLY = ("kernel_initializer", "bias_initializer")


def graph_key(cfg, element_spec):
    """What decides a job's compiled graph: everything but its seed and initial values.

    Args:
        cfg: The composed job config.
        element_spec: The training pipeline's `element_spec`.

    Returns:
        A string; jobs with equal keys can share a compiled model.
    """
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
    """The compiled model to train `model` with, holding `model`'s current state.

    The first model of a key becomes that key's compiled model and is
    returned itself, with its training state built (see
    `_build_training_state`). Later models of the key copy their weights and
    optimizer state into it; after training, `copy_state(compiled, model)`
    gives them the trained state.

    Args:
        model: A built and compiled Keras model, before training.
        key: Its `graph_key`.
        batch: A few training examples, numpy `(features, labels)`.
        reuse: The job's `ProcessReuse`.

    Returns:
        `model` or a compiled model of the same graph.
    """
    model.optimizer.build(model.trainable_variables)
    compiled = reuse.get("compiled models", key, lambda: model)
    if compiled is not model and _same_shapes(compiled, model):
        copy_state(model, compiled)
        return compiled
    _build_training_state(model, *batch)
    return reuse.put("compiled models", key, model)


def copy_state(source, target):
    """Assigns `source`'s variables and optimizer variables to `target`'s, in order."""
    if source is target:
        return
    for to, value in zip(_state(target), _state(source), strict=True):
        to.assign(value)


def _build_training_state(model, features, labels):
    """Creates the loss and metric variables before training, then zeroes them.

    Keras creates them in the first traced train step otherwise, and a
    `tf.function` that creates variables is traced a second time.
    """
    outputs = model(features, training=False)
    model.compute_loss(features, labels, outputs)
    model.compute_metrics(features, labels, outputs, sample_weight=None)
    model.reset_metrics()


def _state(model):
    return [*model.variables, *model.optimizer.variables]


def _same_shapes(a, b):
    shapes = [[tuple(v.shape) for v in _state(m)] for m in (a, b)]
    return shapes[0] == shapes[1]
