"""The one timing engine: calls compiled as each backend compiles, waited for, timed in turns."""

import time
import weakref

import keras
import numpy as np

from custom_dense_lab.process.signals import raise_if_stopped


def compiled_forward(model, example_shape):
    """The compiled inference-mode forward pass of `model`, for any batch size, held weakly."""
    held = weakref.ref(model)
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(
            lambda x: held()(x, training=False),
            input_signature=[tf.TensorSpec((None, *example_shape), tf.float32)],
            jit_compile=bool(model.jit_compile),
        )
    if keras.config.backend() == "jax":
        import jax

        call = jax.jit(lambda t, n, x: held().stateless_call(t, n, x, training=False)[0])
        return lambda x: call(
            [v.value for v in held().trainable_variables],
            [v.value for v in held().non_trainable_variables],
            x,
        )
    import torch

    def forward(x):
        with torch.no_grad():
            return held()(x, training=False)

    return forward


def forward_call(forward, batch):
    """A zero-argument call of `forward` on a numpy `batch` that waits for the result."""
    inputs = keras.ops.convert_to_tensor(batch, dtype="float32")
    return lambda: keras.ops.convert_to_numpy(forward(inputs))


def train_step_call(model, data):
    """`(call, steps per call)`: on TensorFlow the traced train function over `data`, a repeated
    `tf.data` batch; elsewhere `train_on_batch` of `data`, a numpy `(x, y)`."""
    if keras.config.backend() != "tensorflow":
        return (lambda: model.train_on_batch(*data)), 1
    if model.train_function is None:
        model.fit(
            data, epochs=1, steps_per_epoch=model.steps_per_execution, shuffle=False, verbose=0
        )
    iterator = iter(data)
    return (
        lambda: keras.ops.convert_to_numpy(model.train_function(iterator)["loss"])
    ), model.steps_per_execution


def warm_up(calls, times=3):
    for call in calls.values():
        for _ in range(times):
            call()


def calls_per_sample(call, seconds):
    """How many calls of a warmed-up `call` take about `seconds`, from one timed call."""
    started = time.perf_counter()
    call()
    return max(1, round(seconds / max(time.perf_counter() - started, 1e-6)))


def interleaved(calls, rounds, counts=None, first=0):
    """`{name: numpy seconds per call, one per round}` of `calls`, timed in turns from round
    `first`; each sample of `counts[name]` calls follows an untimed call of its own."""
    seconds = {name: [] for name in calls}
    for index in range(first, first + rounds):
        raise_if_stopped()
        for name in list(calls)[:: 1 if index % 2 == 0 else -1]:
            count = counts[name] if counts else 1
            calls[name]()
            started = time.perf_counter()
            for _ in range(count):
                calls[name]()
            seconds[name].append((time.perf_counter() - started) / count)
    return {name: np.asarray(times) for name, times in seconds.items()}


def inference_timings(forwards, batch, single_rounds=100, batch_rounds=20):
    """Per forward pass, in turns: the `infer_latency_ms_p50`, `_p95` of `batch`'s first
    example and the `infer_throughput_sps` of the whole numpy `batch`."""
    single = {i: forward_call(f, batch[:1]) for i, f in enumerate(forwards)}
    whole = {i: forward_call(f, batch) for i, f in enumerate(forwards)}
    warm_up(single)
    warm_up(whole)
    latencies = interleaved(single, single_rounds)
    batch_seconds = interleaved(whole, batch_rounds)
    return [
        {
            "infer_latency_ms_p50": float(np.percentile(latencies[i], 50) * 1000.0),
            "infer_latency_ms_p95": float(np.percentile(latencies[i], 95) * 1000.0),
            "infer_throughput_sps": float(len(batch) / np.median(batch_seconds[i])),
        }
        for i in single
    ]


class MatmulReference:
    """A 2048x2048 float32 matmul, the device's practical peak (TensorFlow sums the product in
    the graph, so that it never leaves TensorFlow's memory)."""

    def __init__(self, n=2048):
        rng = np.random.default_rng(0)
        self._a, self._b = (
            keras.ops.convert_to_tensor(rng.standard_normal((n, n), dtype=np.float32)) for _ in "ab"
        )
        self.flops, self._matmul = 2.0 * n**3, keras.ops.matmul
        if keras.config.backend() == "tensorflow":
            import tensorflow as tf

            self._matmul = tf.function(lambda a, b: keras.ops.sum(keras.ops.matmul(a, b)))
        elif keras.config.backend() == "jax":
            import jax

            self._matmul = jax.jit(keras.ops.matmul)

    def __call__(self):
        return keras.ops.convert_to_numpy(self._matmul(self._a, self._b))
