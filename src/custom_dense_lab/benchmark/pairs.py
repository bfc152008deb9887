"""Custom against stock, timed in turns: one pair's clock, used by the bench and the sweep."""

import dataclasses
import weakref

import keras
import numpy as np

from custom_dense_lab.benchmark import timing

LAYERS = ("custom", "stock")
# What a round times: a training step, a forward pass of a batch, one of a single example.
MEASURES = ("train_step", "infer_batch", "infer_single")


@dataclasses.dataclass
class PairModels:
    """`{"custom": model, "stock": model}`, compiled; what `timing.train_step_call` takes
    (`training_data`); a numpy batch of inputs for the forward passes."""

    models: dict
    train_data: object
    batch: np.ndarray


class PairClock:
    """Times a pair's measures round after round, custom and stock taking turns.

    Both layers make as many calls per sample, about `seconds_per_sample`; a
    `reference` (`timing.MatmulReference`) may stand between their training steps.
    """

    def __init__(self, pair, seconds_per_sample, measures=MEASURES, reference=None):
        forwards = {
            layer: timing.compiled_forward(model, pair.batch.shape[1:])
            for layer, model in pair.models.items()
        }
        self._calls, self._steps, self._counts = {}, {}, {}
        for measure in measures:
            if measure == "train_step":
                calls = {}
                for layer in LAYERS:
                    calls[layer], self._steps[layer] = timing.train_step_call(
                        pair.models[layer], pair.train_data
                    )
                if reference is not None:
                    calls = {"custom": calls["custom"], "reference": reference, **calls}
            else:
                batch = pair.batch[:1] if measure == "infer_single" else pair.batch
                calls = {layer: timing.forward_call(forwards[layer], batch) for layer in LAYERS}
            timing.warm_up(calls)
            paired = timing.calls_per_sample(calls["custom"], seconds_per_sample)
            self._counts[measure] = {
                name: paired
                if name in LAYERS
                else timing.calls_per_sample(call, seconds_per_sample)
                for name, call in calls.items()
            }
            self._calls[measure] = calls
        self.rounds = 0

    def time(self, rounds):
        """`{measure: {name: [seconds per step or call]}}` of `rounds` more rounds."""
        timed = {}
        for measure, calls in self._calls.items():
            per_call = timing.interleaved(calls, rounds, self._counts[measure], first=self.rounds)
            steps = self._steps if measure == "train_step" else {}
            timed[measure] = {
                name: (seconds / steps.get(name, 1)).tolist() for name, seconds in per_call.items()
            }
        self.rounds += rounds
        return timed


def paired_models(build, seed, train_data, batch):
    """A `PairModels` of `build(layer)` under `seed`, the stock model from the custom weights."""
    models = {}
    for layer in LAYERS:
        keras.utils.set_random_seed(seed)
        models[layer] = build(layer)
    models["stock"].set_weights(models["custom"].get_weights())
    return PairModels(models, train_data, batch)


def training_data(x, y):
    """One batch as `timing.train_step_call` takes it: on TensorFlow a repeated batch of
    unknown size, as in the jobs' pipelines, which a job's traced train function runs as is."""
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        return tf.data.Dataset.from_tensor_slices((x, y)).batch(len(x)).repeat()
    return x, y


_kept = {}


def keep(run_id, model, train_batch, batch):
    """Keeps, while it lives, the compiled model the job `run_id` trained through, with a numpy
    `(x, y)` training batch and a batch of inputs, for its pair's timing at the sweep's end."""
    _kept[run_id] = (weakref.ref(model), train_batch, batch)
    weakref.finalize(model, _kept.pop, run_id, None)


def kept_model(run_id):
    """`PairModels`-ready `(model, train_data, batch)` a job of this process kept, or `None`."""
    if run_id not in _kept:
        return None
    model, (x, y), batch = _kept[run_id]
    return None if model() is None else (model(), training_data(x, y), batch)


def forget_kept():
    _kept.clear()
