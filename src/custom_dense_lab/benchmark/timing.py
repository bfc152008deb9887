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

    return torch.no_grad()(lambda x: held()(x, training=False))


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
        model.fit(data, epochs=1, steps_per_epoch=model.steps_per_execution, verbose=0)
    iterator = iter(data)
    steps = model.steps_per_execution
    return (lambda: keras.ops.convert_to_numpy(model.train_function(iterator)["loss"])), steps


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


def warmed_counts(calls, seconds):
    """Warms every call up; `{name: calls per sample}`, about `seconds` from one timed call."""
    counts = {}
    for name, call in calls.items():
        for _ in range(3):
            call()
        started = time.perf_counter()
        call()
        counts[name] = max(1, round(seconds / max(time.perf_counter() - started, 1e-6)))
    return counts


def inference_timings(forwards, batch, single_rounds=100, batch_rounds=20):
    """Per forward pass, in turns: the `infer_latency_ms_p50`, `_p95` of `batch`'s first
    example and the `infer_throughput_sps` of the whole numpy `batch`."""
    single = {i: forward_call(f, batch[:1]) for i, f in enumerate(forwards)}
    whole = {i: forward_call(f, batch) for i, f in enumerate(forwards)}
    for call in [*single.values(), *whole.values()] * 3:
        call()
    latencies, batch_seconds = interleaved(single, single_rounds), interleaved(whole, batch_rounds)
    return [
        {
            "infer_latency_ms_p50": float(np.percentile(latencies[i], 50) * 1000.0),
            "infer_latency_ms_p95": float(np.percentile(latencies[i], 95) * 1000.0),
            "infer_throughput_sps": float(len(batch) / np.median(batch_seconds[i])),
        }
        for i in single
    ]


def matmul_reference(n=2048):
    """`(call, FLOPs)` of a float32 `n`x`n` matmul, the device's practical peak (TensorFlow sums
    the product in the graph, so that it never leaves TensorFlow's memory)."""
    a = keras.ops.convert_to_tensor(np.random.default_rng(0).standard_normal((n, n), np.float32))
    matmul = keras.ops.matmul
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        matmul = tf.function(lambda a, b: keras.ops.sum(keras.ops.matmul(a, b)))
    elif keras.config.backend() == "jax":
        import jax

        matmul = jax.jit(keras.ops.matmul)
    return (lambda: keras.ops.convert_to_numpy(matmul(a, a))), 2.0 * n**3
