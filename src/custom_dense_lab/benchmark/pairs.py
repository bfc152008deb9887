"""A custom/stock pair timed in turns, for the bench and the sweep; the jobs' models kept for it."""

import weakref

import keras

from custom_dense_lab.benchmark import timing

LAYERS = ("custom", "stock")
# What a round times: a training step, a forward pass of a batch, one of a single example.
MEASURES = ("train_step", "infer_batch", "infer_single")


class PairClock:
    """Times the `measures` of `{"custom": model, "stock": model}` in turns, as many calls per
    sample for both; a `reference` (`timing.MatmulReference`) between their training steps."""

    def __init__(self, models, train_data, batch, seconds_per_sample, measures, reference=None):
        forwards = {
            layer: timing.compiled_forward(m, batch.shape[1:]) for layer, m in models.items()
        }
        self._calls, self._counts, self._steps, self.rounds = {}, {}, {}, 0
        for measure in measures:
            if measure == "train_step":
                calls = {}
                for layer in LAYERS:
                    calls[layer], self._steps[layer] = timing.train_step_call(
                        models[layer], train_data
                    )
                if reference is not None:
                    calls = {"custom": calls["custom"], "reference": reference, **calls}
            else:
                inputs = batch[:1] if measure == "infer_single" else batch
                calls = {layer: timing.forward_call(forwards[layer], inputs) for layer in LAYERS}
            timing.warm_up(calls)
            paired = timing.calls_per_sample(calls["custom"], seconds_per_sample)
            self._counts[measure] = {
                name: paired
                if name in LAYERS
                else timing.calls_per_sample(call, seconds_per_sample)
                for name, call in calls.items()
            }
            self._calls[measure] = calls

    def time(self, rounds):
        """`{measure: {name: [seconds per step or call]}}` of `rounds` more rounds."""
        timed = {}
        for measure, calls in self._calls.items():
            per_call = timing.interleaved(calls, rounds, self._counts[measure], first=self.rounds)
            steps = self._steps if measure == "train_step" else {}
            timed[measure] = {
                name: (s / steps.get(name, 1)).tolist() for name, s in per_call.items()
            }
        self.rounds += rounds
        return timed


def paired_models(build, seed):
    """`{layer: build(layer)}` under `seed`, the stock model given the custom one's weights."""
    models = {}
    for layer in LAYERS:
        keras.utils.set_random_seed(seed)
        models[layer] = build(layer)
    models["stock"].set_weights(models["custom"].get_weights())
    return models


def training_data(x, y):
    """One batch as `timing.train_step_call` takes it: on TensorFlow a repeated batch of unknown
    size, as in the jobs' pipelines, so that a job's traced train function runs it as is."""
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        return tf.data.Dataset.from_tensor_slices((x, y)).batch(len(x)).repeat()
    return x, y


_kept = {}


def keep(run_id, model, train_batch, batch):
    """Keeps, while it lives, the model the job `run_id` trained through, with a numpy `(x, y)`
    and a batch of inputs, for its pair's timing at the sweep's end."""
    _kept[run_id] = (weakref.ref(model), train_batch, batch)
    weakref.finalize(model, _kept.pop, run_id, None)


def kept_model(run_id):
    """`(model, train_data, batch)` that the job `run_id` kept in this process, or `None`."""
    model, (x, y), batch = _kept.get(run_id, (lambda: None, (None, None), None))
    return None if model() is None else (model(), training_data(x, y), batch)


forget_kept = _kept.clear
