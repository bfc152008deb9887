"""The one timing engine: compiled calls on each Keras backend, timed in turns.

Each timed call waits for its result; warm-up and compilation are never timed.
"""

import time
import weakref

import keras
import numpy as np

from custom_dense_lab.process.signals import raise_if_stopped


def compiled(function):
    """`function` compiled as the backend compiles: `tf.function`, `jax.jit`, itself on PyTorch."""
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(function)
    if backend == "jax":
        import jax

        return jax.jit(function)
    return function


def compiled_forward(model, example_shape):
    """The inference-mode forward pass of `model`, compiled once for any batch size.

    JAX jits the stateless call over the model's current variables; PyTorch runs
    the module eagerly under `no_grad`. The function holds the model weakly.
    """
    held = weakref.ref(model)
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(
            lambda x: held()(x, training=False),
            input_signature=[tf.TensorSpec((None, *example_shape), tf.float32)],
            jit_compile=bool(model.jit_compile),
        )
    if backend == "jax":
        stateless = compiled(
            lambda trainable, non_trainable, x: held().stateless_call(
                trainable, non_trainable, x, training=False
            )[0]
        )
        return lambda x: stateless(
            [v.value for v in held().trainable_variables],
            [v.value for v in held().non_trainable_variables],
            x,
        )
    import torch

    def forward(x):
        with torch.no_grad():
            return held()(x, training=False)

    return forward


def as_input(batch):
    """A float32 numpy batch as the backend's tensor, on the current device."""
    return keras.ops.convert_to_tensor(batch, dtype="float32")


def wait_for(outputs):
    """The outputs as numpy, once the device has computed them."""
    return keras.ops.convert_to_numpy(outputs)


def forward_call(forward, batch):
    """A zero-argument call of `forward` on a numpy `batch` that waits for the result."""
    inputs = as_input(batch)
    return lambda: wait_for(forward(inputs))


def train_step_call(model, data):
    """`(call, steps per call)`: training steps of a compiled `model`, waited for.

    On TensorFlow, the model's traced train function over `data`, a repeated
    `tf.data` batch (an untrained model fits once first, which traces it);
    elsewhere `train_on_batch` of `data`, a numpy `(x, y)`.
    """
    if keras.config.backend() != "tensorflow":
        x, y = data
        return (lambda: model.train_on_batch(x, y)), 1
    if model.train_function is None:
        model.fit(
            data, epochs=1, steps_per_epoch=model.steps_per_execution, shuffle=False, verbose=0
        )
    iterator = iter(data)
    return (lambda: wait_for(model.train_function(iterator)["loss"])), model.steps_per_execution


def calls_per_sample(call, seconds):
    """How many calls of a warmed-up `call` take about `seconds`, from one timed call."""
    started = time.perf_counter()
    call()
    return max(1, round(seconds / max(time.perf_counter() - started, 1e-6)))


def interleaved(calls, rounds, counts=None, first=0):
    """`{name: numpy seconds per call, one per round}` of `calls`, timed in turns.

    The order reverses every round (`first` is the first round's index, so that
    batches of rounds keep alternating), and each sample follows one untimed call
    of its own: the first call after another model's runs slower. `counts` gives
    `{name: calls per sample}`, one by default.
    """
    names = list(calls)
    seconds = {name: [] for name in names}
    for index in range(first, first + rounds):
        raise_if_stopped()
        for name in names if index % 2 == 0 else names[::-1]:
            count = counts[name] if counts else 1
            calls[name]()
            started = time.perf_counter()
            for _ in range(count):
                calls[name]()
            seconds[name].append((time.perf_counter() - started) / count)
    return {name: np.asarray(times) for name, times in seconds.items()}


def warm_up(calls, times=3):
    for call in calls.values():
        for _ in range(times):
            call()


def inference_timings(models, batch, forwards, single_rounds=100, batch_rounds=20):
    """Per model, in turns: `infer_latency_ms_p50` and `_p95` of its first example, and
    `infer_throughput_sps` of the whole numpy `batch`, from its compiled `forwards`."""
    single = {i: forward_call(f, batch[:1]) for i, f in enumerate(forwards)}
    whole = {i: forward_call(f, batch) for i, f in enumerate(forwards)}
    warm_up(single)
    warm_up(whole)
    latencies = interleaved(single, single_rounds)
    batch_seconds = interleaved(whole, batch_rounds)
    timings = []
    for i in range(len(models)):
        p50, p95 = np.percentile(latencies[i], [50, 95]) * 1000.0
        timings.append(
            {
                "infer_latency_ms_p50": float(p50),
                "infer_latency_ms_p95": float(p95),
                "infer_throughput_sps": float(len(batch) / np.median(batch_seconds[i])),
            }
        )
    return timings


class MatmulReference:
    """A large float32 matmul, the device's practical peak, timed beside the models' steps.

    TensorFlow sums the product inside the graph, so that it never leaves
    TensorFlow's memory; XLA computes the bare product faster than a fused sum.
    """

    def __init__(self, n=2048):
        rng = np.random.default_rng(0)
        self._a, self._b = (as_input(rng.standard_normal((n, n), dtype=np.float32)) for _ in "ab")
        if keras.config.backend() == "tensorflow":
            self._matmul = compiled(lambda a, b: keras.ops.sum(keras.ops.matmul(a, b)))
        else:
            self._matmul = compiled(keras.ops.matmul)
        self.flops = 2.0 * n**3

    def __call__(self):
        return wait_for(self._matmul(self._a, self._b))
