"""Paired, interleaved timing of CustomDense against stock Dense in one process.

For one MLP config, a custom and a stock model start from the same weights and
see the same data, and make the same number of calls. Each round times both,
custom first, then stock first in the next round, so that drift of the
machine's speed falls on both alike; training rounds also time a reference
matmul between the two. Every timed call waits for its result; compilation and
warm-up are not timed.
"""

import dataclasses
import time

import keras
import numpy as np

from custom_dense import CustomDense
from custom_dense_lab.process.signals import raise_if_stopped
from custom_dense_lab.training import forward
from custom_dense_lab.training.flops import training_matmul_flops
from custom_dense_lab.training.forward import compiled_forward
from custom_dense_lab.training.models import build_mlp

DENSE_CLASSES = {"custom": CustomDense, "stock": keras.layers.Dense}
LAYERS = tuple(DENSE_CLASSES)
# What each round times: a training step, a forward pass of a batch, one of a single example.
MEASURES = ("train_step", "infer_batch", "infer_single")
# Bench MLPs take MNIST-sized inputs and have 10 classes.
INPUT_DIM = 784
NUM_CLASSES = 10


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """One MLP of the benchmark grid.

    Args:
        units: Width of each hidden layer.
        depth: Number of hidden layers.
        batch_size: Examples per training step and per batched inference call.
    """

    units: int
    depth: int
    batch_size: int

    @property
    def name(self):
        return f"u{self.units}_d{self.depth}_b{self.batch_size}"

    @property
    def shape(self):
        """The MLP as layer widths, e.g. `784-1024-1024-10`."""
        return "-".join(str(n) for n in (INPUT_DIM, *[self.units] * self.depth, NUM_CLASSES))


@dataclasses.dataclass(frozen=True)
class BenchSettings:
    """How to time each config.

    Args:
        rounds: Timed rounds; each round times custom and stock once.
        steps_per_execution: Training steps per call of the compiled train
            function (Keras `steps_per_execution`).
        seconds_per_sample: Target duration of one timed sample; the number of
            calls in a sample is calibrated to it after warm-up.
        jit_compile: Keras `jit_compile` for both models (`"auto"` leaves XLA
            off on a CPU-only machine, as in the training jobs).
        seed: Seed of the weights and the data.
    """

    rounds: int = 15
    steps_per_execution: int = 10
    seconds_per_sample: float = 0.2
    jit_compile: bool | str = "auto"
    seed: int = 0


def measure_pair(config, settings, reference):
    """Times training and inference of a custom and a stock model of one config.

    Args:
        config: A `BenchConfig`.
        settings: A `BenchSettings`.
        reference: A `MatmulReference`, timed in the same rounds as the
            training steps, so that achieved and peak GFLOP/s see the same
            machine.

    Returns:
        A dict: `{layer: {measure: per-round seconds}}` for the measures
        `train_step` (one training step), `infer_batch` (one forward pass of
        `batch_size` examples) and `infer_single` (one example); `train_flops`,
        the matmul FLOPs of one training step; and `peak_gflops`, the
        reference's rate in each round.
    """
    models = _paired_models(config, settings)
    x, y = _data(config, settings.seed)
    per_round = time_model_pair(models, x, y, settings, reference)
    timings = {
        layer: {measure: per_round[measure][layer] for measure in MEASURES} for layer in LAYERS
    }
    timings["peak_gflops"] = reference.flops / per_round["train_step"]["reference"] / 1e9
    timings["train_flops"] = training_matmul_flops(models["custom"], config.batch_size)
    return timings


def time_model_pair(models, x, y, settings, reference=None):
    """Times a custom and a stock model's training step and forward passes, in turns.

    Args:
        models: `{"custom": model, "stock": model}`, compiled, taking `x`.
        x: One batch of inputs, as a numpy array.
        y: Its labels.
        settings: A `BenchSettings`: the rounds and the length of a sample.
        reference: A callable timed between the two training steps in every
            round (a `MatmulReference`), or `None`.

    Returns:
        `{measure: {name: numpy array of seconds, one per round}}` for the
        `MEASURES`: seconds per training step, per forward pass of the batch,
        per forward pass of its first example; the reference's under
        `train_step` too, seconds per call.
    """
    train_calls, steps_per_call = {}, {}
    for layer in LAYERS:
        train_calls[layer], steps_per_call[layer] = _train_step_call(models[layer], x, y)
    # The reference stands between the two, so that each follows it equally often.
    train_step = {"custom": train_calls["custom"], "stock": train_calls["stock"]}
    if reference is not None:
        train_step = {"custom": train_step["custom"], "reference": reference, **train_step}
    forwards = {layer: compiled_forward(model, x.shape[1:]) for layer, model in models.items()}
    batch, single = forward.inputs(x), forward.inputs(x[:1])
    measures = {
        "train_step": (train_step, steps_per_call),
        "infer_batch": ({layer: _bound(forwards[layer], batch) for layer in LAYERS}, {}),
        "infer_single": ({layer: _bound(forwards[layer], single) for layer in LAYERS}, {}),
    }
    per_round = {}
    for measure, (calls, units_per_call) in measures.items():
        seconds = _interleaved(calls, settings)
        per_round[measure] = {
            name: times / units_per_call.get(name, 1) for name, times in seconds.items()
        }
    return per_round


class MatmulReference:
    """A large float32 matmul: the device's practical peak, timed beside the models.

    It runs as the backend runs a model's step: compiled by TensorFlow or
    JAX, one eager call on PyTorch (a single kernel either way). Measured on
    this project's CPU: 317 GFLOP/s through TensorFlow, 276 through JAX, where
    a JAX-compiled matmul followed by a sum reached 187.

    Args:
        n: Size of the square matrices.
    """

    def __init__(self, n=2048):
        rng = np.random.default_rng(0)
        self._a, self._b = (
            keras.ops.convert_to_tensor(rng.standard_normal((n, n), dtype=np.float32))
            for _ in range(2)
        )
        if keras.config.backend() == "tensorflow":
            # The sum, in the graph: the product never leaves TensorFlow's memory.
            self._matmul = _compiled(lambda a, b: keras.ops.sum(keras.ops.matmul(a, b)))
        else:
            # The product itself: XLA would fuse a sum into a slower kernel than its matmul's,
            # and on the CPU the product reaches numpy without a copy.
            self._matmul = _compiled(keras.ops.matmul)
        self.flops = 2.0 * n**3

    def __call__(self):
        return forward.wait_for(self._matmul(self._a, self._b))


def _paired_models(config, settings):
    models = {}
    for layer, dense_class in DENSE_CLASSES.items():
        keras.utils.set_random_seed(settings.seed)
        model = build_mlp(dense_class, (INPUT_DIM,), NUM_CLASSES, config.units, config.depth)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=1e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(),
            steps_per_execution=steps_per_execution(settings),
            jit_compile=settings.jit_compile,
        )
        models[layer] = model
    models["stock"].set_weights(models["custom"].get_weights())
    return models


def steps_per_execution(settings):
    """The settings' steps per call on TensorFlow; 1 elsewhere (see `_train_step_call`)."""
    return settings.steps_per_execution if keras.config.backend() == "tensorflow" else 1


def _data(config, seed):
    rng = np.random.default_rng(seed)
    x = rng.random((config.batch_size, INPUT_DIM), dtype=np.float32)
    y = rng.integers(0, NUM_CLASSES, size=config.batch_size)
    return x, y


def _train_step_call(model, x, y):
    """A call that runs training steps of `model` on the batch and waits; its steps per call.

    On TensorFlow, one call of the compiled train function over a repeated
    `tf.data` batch: `steps_per_execution` steps. On JAX and PyTorch, one
    `train_on_batch`: one step. The first call, which compiles, is made here.
    """
    if keras.config.backend() != "tensorflow":
        model.train_on_batch(x, y)
        return (lambda: model.train_on_batch(x, y)), 1
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensors((x, y)).repeat()
    model.fit(
        dataset, epochs=1, steps_per_epoch=model.steps_per_execution, shuffle=False, verbose=0
    )
    iterator = iter(dataset)
    return (lambda: model.train_function(iterator)), model.steps_per_execution


def _compiled(function):
    """`function` compiled by the backend: `tf.function`, `jax.jit`, or itself on PyTorch."""
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(function)
    if backend == "jax":
        import jax

        return jax.jit(function)
    return function


def _bound(forward_pass, inputs):
    return lambda: forward.wait_for(forward_pass(inputs))


def _interleaved(calls, settings):
    """Times each call over `settings.rounds` rounds, reversing the order every round.

    Args:
        calls: `{name: zero-argument callable that waits for its result}`.
        settings: A `BenchSettings`.

    Returns:
        `{name: numpy array of seconds per call, one per round}`.
    """
    for call in calls.values():
        for _ in range(3):
            call()
    # Custom and stock do the same number of calls, so that they do the same work.
    paired = _calibrate(calls["custom"], settings.seconds_per_sample)
    counts = {
        name: paired if name in LAYERS else _calibrate(call, settings.seconds_per_sample)
        for name, call in calls.items()
    }
    names = list(calls)
    per_round = {name: [] for name in names}
    for round_index in range(settings.rounds):
        raise_if_stopped()
        for name in names if round_index % 2 == 0 else names[::-1]:
            per_round[name].append(_time_calls(calls[name], counts[name]) / counts[name])
    return {name: np.asarray(times) for name, times in per_round.items()}


def _calibrate(call, seconds):
    """How many calls of a warmed-up `call` take about `seconds`, from one timed call."""
    once = _time_calls(call, 1)
    return max(1, round(seconds / max(once, 1e-6)))


def _time_calls(call, count):
    started = time.perf_counter()
    for _ in range(count):
        call()
    return time.perf_counter() - started
