"""A custom/stock pair timed in turns, for the bench and the sweep's speed verdict, timed until
it holds (docs/architecture.md, One timing engine)."""

import json
import time
import weakref

import keras
import mlflow
from omegaconf import OmegaConf

from custom_dense_lab.benchmark import timing
from custom_dense_lab.data import load_dataset
from custom_dense_lab.process import backends, signals
from custom_dense_lab.process.job_settings import job_settings
from custom_dense_lab.reports import paired
from custom_dense_lab.reports.runs import child_runs, pair_labels, pair_runs
from custom_dense_lab.tracking import lifecycle
from custom_dense_lab.training.devices import resolve_device
from custom_dense_lab.training.models import job_model

LAYERS = ("custom", "stock")
# What a round times: a training step, a forward pass of a batch, one of a single example.
MEASURES = ("train_step", "infer_batch", "infer_single")
# The sweep's: the measures behind its report's two ratios.
SWEEP_MEASURES = ("train_step", "infer_single")
# The models that jobs of this process trained through, by run id, while they live.
kept = {}
_clocks = {}


def pair_clock(models, train_data, batch, seconds_per_sample, measures, reference=None):
    """A function of `rounds` that times that many more rounds of the `measures` of
    `{"custom": model, "stock": model}` in turns, as many calls per sample for both (a
    `reference` call between their training steps), and returns all the rounds so far:
    `{measure: {name: [seconds per step or call]}}`."""
    forwards = {layer: timing.compiled_forward(m, batch.shape[1:]) for layer, m in models.items()}
    plan, seconds = {}, {}
    for measure in measures:
        steps = {}
        if measure == "train_step":
            calls = {}
            for layer in LAYERS:
                calls[layer], steps[layer] = timing.train_step_call(models[layer], train_data)
            if reference is not None:
                calls = {"custom": calls["custom"], "reference": reference, **calls}
        else:
            inputs = batch[:1] if measure == "infer_single" else batch
            calls = {layer: timing.forward_call(forwards[layer], inputs) for layer in LAYERS}
        counts = timing.warmed_counts(calls, seconds_per_sample)
        counts.update(stock=counts["custom"])
        plan[measure] = calls, counts, steps
        seconds[measure] = {name: [] for name in calls}

    def time_more(rounds):
        for measure, (calls, counts, steps) in plan.items():
            first = len(seconds[measure]["custom"])
            for name, s in timing.interleaved(calls, rounds, counts, first).items():
                seconds[measure][name] += (s / steps.get(name, 1)).tolist()
        return seconds

    return time_more


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


def keep(run_id, model, train_batch, batch):
    """Keeps, while it lives, the model the job `run_id` trained through, with a numpy `(x, y)`
    and a batch of inputs, for its pair's timing at the sweep's end."""
    kept[run_id] = (weakref.ref(model), train_batch, batch)
    weakref.finalize(model, kept.pop, run_id, None)


def time_sweep_pairs(parent_run_id, settings):
    """Times every finished pair of a sweep by its `pair_timing` settings, pass after pass until
    the pooled interval is within the target; logs the figures on its parent."""
    found = pair_runs(child_runs(parent_run_id))
    if found.empty:
        return
    started = time.perf_counter()
    entries = found[["run_id_custom", "run_id_stock"]].to_dict("records")
    rounds, done, stopped_by = settings.rounds, 0, None
    try:
        while stopped_by is None:
            for entry in (e for e in entries if "not_timed" not in e):
                signals.raise_if_stopped()
                run_ids = (entry["run_id_custom"], entry["run_id_stock"])
                backend = mlflow.get_run(run_ids[0]).data.tags.get("keras_backend", "tensorflow")
                uri, seconds = mlflow.get_tracking_uri(), settings.seconds_per_sample
                try:
                    entry["seconds"] = backends.run_in_backend(
                        backend, time_pair, uri, run_ids, rounds, seconds
                    )
                except Exception as error:
                    entry.pop("seconds", None)
                    entry["not_timed"] = lifecycle.describe_error(error)
            done += rounds
            timed = [e for e in entries if "seconds" in e]
            pooled = paired.pooled(timed, "train_step") if timed else {}
            spread = (abs(pooled[k] - pooled["ratio"]) for k in ("ci_low", "ci_high") if timed)
            if max(spread, default=0) <= settings.target:
                stopped_by = "target"
            elif done >= settings.max_rounds:
                stopped_by = "max_rounds"
            rounds = min(2, settings.max_rounds - done)
    finally:
        _clocks.clear()
        kept.clear()
    wall_s = time.perf_counter() - started
    for number, (label, entry) in enumerate(zip(pair_labels(found), entries, strict=True), 1):
        figures = paired.pair_figures(entry)
        outcome = (
            f"not timed here ({entry['not_timed']}); the report shows its jobs' own figures"
            if "not_timed" in entry
            else f"custom / stock step time {figures['step_time_ratio']:.3f}, "
            f"latency {figures['infer_latency_ratio']:.3f}"
        )
        print(f"paired timing {number}/{len(entries)} [{label}]: {outcome}", flush=True)
    if timed:
        print(
            f"paired timing: {done} rounds of {len(timed)} pairs in {wall_s:.1f} s, pooled "
            f"step-time ratio {pooled['ratio']:.3f} [{pooled['ci_low']:.3f}, {pooled['ci_high']:.3f}]",
            flush=True,
        )
    document = {
        "rounds": done,
        "max_rounds": settings.max_rounds,
        "target_half_width": settings.target,
        "seconds_per_sample": settings.seconds_per_sample,
        "wall_s": wall_s,
        "stopped_by": stopped_by,
        "pairs": entries,
    }
    mlflow.MlflowClient().log_text(parent_run_id, json.dumps(document), paired.TIMINGS_JSON)


def time_pair(tracking_uri, run_ids, rounds, seconds_per_sample):
    """`{measure: {layer: [seconds]}}` of a pair after `rounds` more rounds, with the precision,
    determinism and device its jobs ran with, from the models they trained through where this
    process keeps them, else built again from their logged configs."""
    if run_ids not in _clocks:
        mlflow.set_tracking_uri(tracking_uri)
        configs = {
            layer: OmegaConf.create(mlflow.artifacts.load_text(f"runs:/{run_id}/config.yaml"))
            for layer, run_id in zip(LAYERS, run_ids, strict=True)
        }
        cfg = configs["custom"]
        tags = mlflow.get_run(run_ids[0]).data.tags
        device = resolve_device(tags.get("device", cfg.device.name)).spec
        settings = (str(cfg.trainer.precision), cfg.trainer.deterministic)
        with job_settings(*settings), keras.device(device):
            if all(run_id in kept for run_id in run_ids):
                (custom, train_data, batch), (stock, _, _) = (kept[r] for r in run_ids)
                models, train_data = (
                    {"custom": custom(), "stock": stock()},
                    training_data(*train_data),
                )
            else:
                keras.backend.clear_session(free_memory=False)
                bundle = load_dataset(cfg.dataset, cfg.trainer.batch_size, cfg.seed)
                batch, y = bundle.examples("train", cfg.trainer.batch_size)
                train_data = training_data(batch, y)
                models = paired_models(
                    lambda layer: job_model(configs[layer], bundle.input_shape, bundle.num_classes),
                    cfg.seed,
                )
            clock = pair_clock(models, train_data, batch, seconds_per_sample, SWEEP_MEASURES)
        _clocks[run_ids] = (clock, settings, device)
    clock, settings, device = _clocks[run_ids]
    with job_settings(*settings), keras.device(device):
        return clock(rounds)
