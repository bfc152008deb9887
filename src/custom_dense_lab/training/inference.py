"""Inference timings through the compiled forward pass, with no `predict` overhead."""

import time
import weakref

import numpy as np
import tensorflow as tf


def time_inference(model, batch, reuse, single_repeats=100, batch_repeats=20):
    """Times single-sample latency and batched throughput of `model`'s forward pass.

    The forward pass is one `tf.function` traced once per model for any batch
    size; warm-up calls are excluded and each timed call waits for its result.

    Args:
        model: A built Keras model.
        batch: A float32 numpy batch of inputs; its first sample is the
            single-sample input.
        reuse: The job's `ProcessReuse`, which keeps the traced forward pass
            for later jobs that train through the same compiled model.
        single_repeats: Timed single-sample calls.
        batch_repeats: Timed whole-batch calls.

    Returns:
        A dict of `infer_latency_ms_p50`, `infer_latency_ms_p95` and
        `infer_throughput_sps`.
    """
    forward = _forward_pass(model, batch.shape[1:], reuse)
    single = tf.constant(batch[:1])
    many = tf.constant(batch)
    latencies = _timed_calls(forward, single, single_repeats)
    batch_times = _timed_calls(forward, many, batch_repeats)
    p50, p95 = np.percentile(latencies, [50, 95]) * 1000.0
    return {
        "infer_latency_ms_p50": float(p50),
        "infer_latency_ms_p95": float(p95),
        "infer_throughput_sps": float(len(batch) / np.median(batch_times)),
    }


def forward(model, batch, reuse):
    """`model`'s outputs for a numpy `batch`, through the forward pass `time_inference` times."""
    return _forward_pass(model, batch.shape[1:], reuse)(tf.constant(batch)).numpy()


def _forward_pass(model, example_shape, reuse):
    spec = tf.TensorSpec((None, *example_shape), tf.float32)

    def trace():
        held = weakref.ref(model)  # the kept function must not keep the model alive
        return tf.function(lambda x: held()(x, training=False), input_signature=[spec])

    return reuse.get("forward passes", model, trace)


def _timed_calls(forward, inputs, repeats, warmup=3):
    for _ in range(warmup):
        forward(inputs).numpy()
    durations = []
    for _ in range(repeats):
        started = time.perf_counter()
        forward(inputs).numpy()
        durations.append(time.perf_counter() - started)
    return np.asarray(durations)
