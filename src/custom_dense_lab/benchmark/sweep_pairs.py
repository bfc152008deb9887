"""A sweep's speed verdict: its custom/stock pairs timed in turns at its end, until it holds
(docs/architecture.md, One timing engine)."""

import json
import time

import keras
import mlflow
from omegaconf import OmegaConf

from custom_dense_lab.benchmark import pairs as pair_timing
from custom_dense_lab.data import load_dataset
from custom_dense_lab.process import backends, signals
from custom_dense_lab.process.job_settings import job_settings
from custom_dense_lab.reports import paired
from custom_dense_lab.reports.runs import child_runs, pair_labels, pair_runs
from custom_dense_lab.tracking import lifecycle
from custom_dense_lab.training.devices import resolve_device
from custom_dense_lab.training.models import job_model

# The measures behind the report's two ratios: a training step, a single-example forward pass.
MEASURES = ("train_step", "infer_single")
ROUNDS_PER_PASS = 2


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
                _time_more(entry, rounds, settings.seconds_per_sample)
            done += rounds
            timed = [e for e in entries if "seconds" in e]
            pooled = paired.pooled(timed, "train_step") if timed else {}
            spread = (abs(pooled[k] - pooled["ratio"]) for k in ("ci_low", "ci_high") if timed)
            if max(spread, default=0) <= settings.target:
                stopped_by = "target"
            elif done >= settings.max_rounds:
                stopped_by = "max_rounds"
            rounds = min(ROUNDS_PER_PASS, settings.max_rounds - done)
    finally:
        _clocks.clear()
        pair_timing.forget_kept()
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


def _time_more(entry, rounds, seconds_per_sample):
    """Adds `rounds` rounds to a pair's entry, in a process of its backend; a pair that cannot
    be timed gets `not_timed`, the reason."""
    run_ids = (entry["run_id_custom"], entry["run_id_stock"])
    backend = mlflow.get_run(run_ids[0]).data.tags.get("keras_backend", "tensorflow")
    try:
        seconds = backends.run_in_backend(
            backend, time_pair, mlflow.get_tracking_uri(), run_ids, rounds, seconds_per_sample
        )
    except Exception as error:
        entry.pop("seconds", None)
        entry["not_timed"] = lifecycle.describe_error(error)
        return
    kept = entry.setdefault("seconds", {m: {"custom": [], "stock": []} for m in MEASURES})
    for measure, by_layer in seconds.items():
        for layer in pair_timing.LAYERS:
            kept[measure][layer] += by_layer[layer]


_clocks = {}


def time_pair(tracking_uri, run_ids, rounds, seconds_per_sample):
    """`{measure: {layer: [seconds]}}` of `rounds` more rounds of a pair, with the precision,
    determinism and device its jobs ran with; the pair's clock is kept for the next pass."""
    if run_ids not in _clocks:
        mlflow.set_tracking_uri(tracking_uri)
        configs = {
            layer: OmegaConf.create(mlflow.artifacts.load_text(f"runs:/{run_id}/config.yaml"))
            for layer, run_id in zip(pair_timing.LAYERS, run_ids, strict=True)
        }
        cfg = configs["custom"]
        tags = mlflow.get_run(run_ids[0]).data.tags
        device = resolve_device(tags.get("device", cfg.device.name)).spec
        settings = (str(cfg.trainer.precision), cfg.trainer.deterministic)
        kept = [pair_timing.kept_model(run_id) for run_id in run_ids]
        with job_settings(*settings), keras.device(device):
            if all(kept):  # the models the pair's jobs trained in this process
                (custom, train_data, batch), (stock, _, _) = kept
                models = {"custom": custom, "stock": stock}
            else:  # else built again from their logged configs
                keras.backend.clear_session(free_memory=False)
                bundle = load_dataset(cfg.dataset, cfg.trainer.batch_size, cfg.seed)
                batch, y = bundle.examples("train", cfg.trainer.batch_size)
                train_data = pair_timing.training_data(batch, y)
                models = pair_timing.paired_models(
                    lambda layer: job_model(configs[layer], bundle.input_shape, bundle.num_classes),
                    cfg.seed,
                )
            clock = pair_timing.PairClock(models, train_data, batch, seconds_per_sample, MEASURES)
        _clocks[run_ids] = (clock, settings, device)
    clock, settings, device = _clocks[run_ids]
    with job_settings(*settings), keras.device(device):
        return clock.time(rounds)
