"""The one timing engine (docs/architecture.md): compiled calls, pairs, the sweep's verdict."""

import json
import sys
import time
import timeit
import weakref

import keras
import mlflow
import numpy as np
import tensorflow as tf
from omegaconf import OmegaConf

from custom_dense_lab.data import load_dataset
from custom_dense_lab.process import backends, job_settings, signals
from custom_dense_lab.reports import paired
from custom_dense_lab.reports.runs import LAYERS, child_runs, pair_labels, pair_runs
from custom_dense_lab.tracking import lifecycle
from custom_dense_lab.training.models import job_model, resolve_device

MEASURES = ("train_step", "infer_batch", "infer_single")
SWEEP_MEASURES = ("train_step", "infer_single")  # behind the sweep report's two ratios
CI, RATIOS = ("ratio", "ci_low", "ci_high"), ("step_time_ratio", "infer_latency_ratio")
kept, _clocks = {}, {}  # the jobs' models by run id, weakly; the pairs' clocks between passes


def compiled_forward(model, example_shape):
    """The compiled inference-mode forward pass of `model`, for any batch size, held weakly."""
    held = weakref.ref(model)
    if keras.config.backend() == "tensorflow":
        return tf.function(
            lambda x: held()(x, training=False),
            input_signature=[tf.TensorSpec((None, *example_shape), tf.float32)],
            jit_compile=bool(model.jit_compile),
        )
    if keras.config.backend() == "jax":
        jax = sys.modules["jax"]  # imported by Keras, as its backend
        call = jax.jit(lambda t, n, x: held().stateless_call(t, n, x, training=False)[0])
        return lambda x: call(
            [v.value for v in held().trainable_variables],
            [v.value for v in held().non_trainable_variables],
            x,
        )
    return sys.modules["torch"].no_grad()(lambda x: held()(x, training=False))


def forward_call(forward, batch):
    """A zero-argument call of `forward` on a numpy `batch` that waits for the result."""
    inputs = keras.ops.convert_to_tensor(batch, dtype="float32")
    return lambda: keras.ops.convert_to_numpy(forward(inputs))


def interleaved(calls, rounds, counts=None):
    """`{name: seconds per call, one per round}`, each sample after an untimed call."""
    seconds = {name: [] for name in calls}
    for index in range(rounds):
        signals.raise_if_stopped()
        for name in list(calls)[:: 1 if index % 2 == 0 else -1]:
            count = counts[name] if counts else 1
            calls[name]()
            seconds[name].append(timeit.Timer(calls[name]).timeit(count) / count)
    return {name: np.asarray(times) for name, times in seconds.items()}


def inference_timings(forwards, batch, single_rounds=100, batch_rounds=20):
    """Per forward pass, in turns: latency of one example, throughput of the `batch`."""
    single = {i: forward_call(f, batch[:1]) for i, f in enumerate(forwards)}
    whole = {i: forward_call(f, batch) for i, f in enumerate(forwards)}
    for call in [*single.values(), *whole.values()] * 3:
        call()
    latencies, batch_seconds = interleaved(single, single_rounds), interleaved(whole, batch_rounds)
    keys = ("infer_latency_ms_p50", "infer_latency_ms_p95", "infer_throughput_sps")
    p50_p95 = {i: np.percentile(latencies[i], [50, 95]) * 1000.0 for i in single}
    sps = {i: len(batch) / np.median(batch_seconds[i]) for i in single}
    return [dict(zip(keys, [*p50_p95[i], sps[i]], strict=True)) for i in single]


def paired_models(build, seed):
    """`{layer: build(layer)}` under `seed`, the stock model given the custom one's weights."""
    models = {}
    for layer in LAYERS:
        keras.utils.set_random_seed(seed)
        models[layer] = build(layer)
    models["stock"].set_weights(models["custom"].get_weights())
    return models


def pair_clock(models, x, y, seconds_per_sample, measures, reference=None):
    """A function of `rounds` more (of the measures `only`, default all), returning
    `{measure: {name: [seconds]}}` of all so far."""
    forwards = {layer: compiled_forward(m, x.shape[1:]) for layer, m in models.items()}
    tensorflow = keras.config.backend() == "tensorflow"
    if tensorflow:  # a repeated batch of unknown size, as a job's pipeline gives it
        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(len(x)).repeat()
    plan, seconds = {}, {}
    for measure in measures:
        calls, steps, counts = {}, {}, {}
        inputs = x[:1] if measure == "infer_single" else x
        for layer, model in models.items():
            if measure == "train_step" and not tensorflow:
                calls[layer] = lambda model=model: model.train_on_batch(x, y)
            elif measure == "train_step":  # the traced train function, as a job's pipeline runs it
                if model.train_function is None:
                    model.fit(data, epochs=1, steps_per_epoch=model.steps_per_execution, verbose=0)
                steps[layer], batches = model.steps_per_execution, iter(data)
                calls[layer] = lambda m=model, b=batches: np.asarray(m.train_function(b)["loss"])
            else:
                calls[layer] = forward_call(forwards[layer], inputs)
        if measure == "train_step" and reference is not None:
            calls = {"custom": calls["custom"], "reference": reference, **calls}
        for name, call in calls.items():  # warmed up, and as many calls as take the seconds
            timeit.Timer(call).timeit(1)
            counts[name] = max(1, round(seconds_per_sample / timeit.Timer(call).timeit(1)))
        plan[measure] = calls, counts | {"stock": counts["custom"]}, steps
        seconds[measure] = {name: [] for name in calls}

    def time_more(rounds, only=measures):
        for measure in only:
            calls, counts, steps = plan[measure]
            for name, s in interleaved(calls, rounds, counts).items():
                seconds[measure][name] += (s / steps.get(name, 1)).tolist()
        return seconds

    return time_more


def time_sweep_pairs(parent_run_id, settings):
    """Times a sweep's pairs until the pooled interval holds; logs them on its parent."""
    found = pair_runs(child_runs(parent_run_id))
    if found.empty:
        return
    _clocks.clear()  # an earlier sweep's, in this process; this one's live until the next
    started, uri = time.perf_counter(), mlflow.get_tracking_uri()
    backend = {"tags.keras_backend_custom": "backend"}  # the jobs' tag, read with the runs
    entries = found[["run_id_custom", "run_id_stock", *backend]].rename(columns=backend)
    entries = entries.to_dict("records")
    rounds, done, stopped_by = settings.rounds, 0, None
    try:
        while stopped_by is None:
            for entry in (e for e in entries if "not_timed" not in e):
                run_ids = (entry["run_id_custom"], entry["run_id_stock"])
                # The latency in the first pass only: the stop watches the step time alone.
                measures = SWEEP_MEASURES if done == 0 else SWEEP_MEASURES[:1]
                args = (uri, run_ids, rounds, settings.seconds_per_sample, measures)
                try:
                    entry["seconds"] = backends.run_in_backend(entry["backend"], time_pair, *args)
                except Exception as error:
                    entry.pop("seconds", None)
                    entry["not_timed"] = lifecycle.describe_error(error)
            done += rounds
            timed = [e for e in entries if "seconds" in e]
            pooled = paired.pooled(timed, "train_step") if timed else dict.fromkeys(CI, 0.0)
            held = max(abs(pooled[k] - pooled["ratio"]) for k in CI[1:]) <= settings.target
            stopped_by = "target" if held else "max_rounds" if done >= settings.max_rounds else None
            rounds = min(2, settings.max_rounds - done)
    finally:
        kept.clear()
    wall_s = time.perf_counter() - started
    for number, (label, entry) in enumerate(zip(pair_labels(found), entries, strict=True), 1):
        step, latency = map(paired.pair_figures(entry).get, RATIOS)
        outcome = f"custom / stock step time {step:.3f}, latency {latency:.3f}"
        if why := entry.get("not_timed"):
            outcome = f"not timed here ({why}); the report shows its jobs' own figures"
        print(f"paired timing {number}/{len(entries)} [{label}]: {outcome}", flush=True)
    if timed:
        ratio = "{ratio:.3f} [{ci_low:.3f}, {ci_high:.3f}]".format(**pooled)
        summary = f"{done} rounds of {len(timed)} pairs in {wall_s:.1f} s, pooled step-time ratio"
        print(f"paired timing: {summary} {ratio}", flush=True)
    document = {"rounds": done, "max_rounds": settings.max_rounds, "wall_s": wall_s}
    document |= {"target_half_width": settings.target, "stopped_by": stopped_by}
    document |= {"seconds_per_sample": settings.seconds_per_sample, "pairs": entries}
    mlflow.MlflowClient().log_text(parent_run_id, json.dumps(document), paired.TIMINGS_JSON)


def time_pair(tracking_uri, run_ids, rounds, seconds_per_sample, measures=SWEEP_MEASURES):
    """A pair's seconds after `rounds` more of `measures`, of its jobs' own models if kept, else
    rebuilt."""
    if run_ids not in _clocks:
        local = all(run_id in kept for run_id in run_ids)  # its jobs ran in this process
        if local:
            (custom, x, y, settings, device), (stock, *_) = (kept[run_id] for run_id in run_ids)
        else:
            mlflow.set_tracking_uri(tracking_uri)
            texts = [mlflow.artifacts.load_text(f"runs:/{run}/config.yaml") for run in run_ids]
            configs = dict(zip(LAYERS, map(OmegaConf.create, texts), strict=True))
            cfg, tags = configs["custom"], mlflow.get_run(run_ids[0]).data.tags
            device = resolve_device(tags.get("device", cfg.device.name)).spec
            settings = (str(cfg.trainer.precision), cfg.trainer.deterministic)
        with job_settings.job_settings(*settings), keras.device(device):
            if local:
                models = {"custom": custom(), "stock": stock()}
            else:
                bundle = load_dataset(cfg.dataset, cfg.trainer.batch_size, cfg.seed)
                x, y = bundle.examples("train", cfg.trainer.batch_size)
                shape, classes = bundle.input_shape, bundle.num_classes
                models = paired_models(lambda c: job_model(configs[c], shape, classes), cfg.seed)
            clock = pair_clock(models, x, y, seconds_per_sample, SWEEP_MEASURES)
        _clocks[run_ids] = (clock, settings, device)
    clock, settings, device = _clocks[run_ids]
    with job_settings.job_settings(*settings), keras.device(device):
        return clock(rounds, measures)
