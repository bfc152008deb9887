"""Inference timings through the compiled forward pass, with no `predict` overhead."""

import time

import numpy as np

from custom_dense_lab.process.signals import raise_if_stopped
from custom_dense_lab.training import forward as forward_pass


def time_inference(model, batch, reuse, single_repeats=100, batch_repeats=20):
    """Times single-sample latency and batched throughput of `model`'s forward pass.

    The forward pass is compiled once per model for any batch size, the way
    its backend compiles (see `forward.compiled_forward`); warm-up calls are
    excluded and each timed call waits for its result.

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
    return time_inference_interleaved([model], batch, reuse, single_repeats, batch_repeats)[0]


def time_inference_interleaved(models, batch, reuse, single_repeats=100, batch_repeats=20):
    """`time_inference` of several models at once, their calls taking turns.

    Each round calls every model once, so that a change in the machine's
    speed while they are timed reaches them all alike, and their ratios
    measure the models rather than the moment.

    Returns:
        One dict per model, as `time_inference` returns.
    """
    forwards = [_forward_pass(model, batch.shape[1:], reuse) for model in models]
    single = forward_pass.inputs(batch[:1])
    many = forward_pass.inputs(batch)
    latencies = _timed_calls(forwards, single, single_repeats)
    batch_times = _timed_calls(forwards, many, batch_repeats)
    timings = []
    for model_latencies, model_batch_times in zip(latencies, batch_times, strict=True):
        p50, p95 = np.percentile(model_latencies, [50, 95]) * 1000.0
        timings.append(
            {
                "infer_latency_ms_p50": float(p50),
                "infer_latency_ms_p95": float(p95),
                "infer_throughput_sps": float(len(batch) / np.median(model_batch_times)),
            }
        )
    return timings


def forward(model, batch, reuse):
    """`model`'s outputs for a numpy `batch`, through the forward pass `time_inference` times."""
    outputs = _forward_pass(model, batch.shape[1:], reuse)(forward_pass.inputs(batch))
    return forward_pass.wait_for(outputs)


def _forward_pass(model, example_shape, reuse):
    return reuse.get(
        "forward passes", model, lambda: forward_pass.compiled_forward(model, example_shape)
    )


def _timed_calls(forwards, inputs, repeats, warmup=3):
    """Per forward pass, the seconds of `repeats` calls on `inputs`, the passes taking turns."""
    for _ in range(warmup):
        for forward in forwards:
            forward_pass.wait_for(forward(inputs))
    durations = [[] for _ in forwards]
    for _ in range(repeats):
        raise_if_stopped()
        for forward, times in zip(forwards, durations, strict=True):
            started = time.perf_counter()
            forward_pass.wait_for(forward(inputs))
            times.append(time.perf_counter() - started)
    return [np.asarray(times) for times in durations]
