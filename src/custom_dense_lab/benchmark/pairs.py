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
    """A custom and a stock model of one config, and what their training steps run on.

    Args:
        models: `{"custom": model, "stock": model}`, compiled.
        train_data: What `timing.train_step_call` takes: on TensorFlow a
            repeated `tf.data` batch, elsewhere a numpy `(x, y)`.
        batch: A numpy batch of inputs for the forward passes.
    """

    models: dict
    train_data: object
    batch: np.ndarray


class PairClock:
    """Times a pair's measures round after round, custom and stock taking turns.

    Both layers make the same number of calls per sample, calibrated once
    after warm-up to about `seconds_per_sample`. A `reference` (a
    `timing.MatmulReference`) may stand between them in the training rounds.
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
                if reference is not None:  # the matmul's peak, timed in the same rounds
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
        self.seconds = {
            measure: {name: [] for name in calls} for measure, calls in self._calls.items()
        }
        self.rounds = 0

    def time(self, rounds):
        """Times `rounds` more rounds of every measure; returns their seconds per step or call."""
        timed = {}
        for measure, calls in self._calls.items():
            per_call = timing.interleaved(calls, rounds, self._counts[measure], first=self.rounds)
            steps = self._steps if measure == "train_step" else {}
            timed[measure] = {
                name: (seconds / steps.get(name, 1)).tolist() for name, seconds in per_call.items()
            }
            for name, seconds in timed[measure].items():
                self.seconds[measure][name] += seconds
        self.rounds += rounds
        return timed


def paired_models(build, seed, train_data, batch):
    """A `PairModels` whose stock model starts from the custom one's weights.

    Args:
        build: `build(layer)` returns the compiled model of `"custom"` or `"stock"`.
        seed: The random seed both are built under.
        train_data: What their training steps run on (see `PairModels`).
        batch: A numpy batch of inputs.
    """
    models = {}
    for layer in LAYERS:
        keras.utils.set_random_seed(seed)
        models[layer] = build(layer)
    models["stock"].set_weights(models["custom"].get_weights())
    return PairModels(models, train_data, batch)


def training_data(x, y):
    """One batch as what `timing.train_step_call` takes on the active backend.

    On TensorFlow, a repeated batch whose batch size is unknown, as in the jobs' pipelines,
    so that a job's traced train function runs it without tracing again.
    """
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        return tf.data.Dataset.from_tensor_slices((x, y)).batch(len(x)).repeat()
    return x, y


_kept = {}


def keep(run_id, model, train_batch, batch):
    """Keeps a job's compiled model, while it lives, for its pair's timing at the sweep's end.

    The sweep then times the pair from the model its job trained through, already
    traced, instead of building it again from the config the job logged.

    Args:
        run_id: The job's run.
        model: The compiled model the job trained through (shared by the jobs of one graph).
        train_batch: A numpy `(x, y)` training batch.
        batch: A numpy batch of inputs for the forward passes.
    """
    _kept[run_id] = (weakref.ref(model), train_batch, batch)
    weakref.finalize(model, _kept.pop, run_id, None)


def kept_model(run_id):
    """`PairModels`-ready `(model, train_data, batch)` a job of this process kept, or `None`."""
    if run_id not in _kept:
        return None
    model, (x, y), batch = _kept[run_id]
    return None if model() is None else (model(), training_data(x, y), batch)


def forget_kept():
    """Forgets every kept model (the sweep has timed its pairs)."""
    _kept.clear()
