"""A sweep's speed verdict: each custom/stock pair timed in turns, in one process, at its end.

The jobs of a pair ran one after the other, minutes apart, on a machine whose
speed drifts: the ratio of their own step times measures the machine as much
as the layer. At the sweep's end the launching process rebuilds each pair's
two models from the configs their jobs logged (same graph, optimizer, batch
size, precision and device, the job's initial weights) and times them the
bench's way (`benchmark.pairing.time_model_pair`): training steps and forward
passes, custom and stock taking turns over rounds. The per-round seconds go
to the parent run as `paired_timings.json`, which the report reads (see
`reports.paired`). A pair of another Keras backend than this process's is
timed in a process of its backend. The jobs' own figures stay in their runs.
"""

import json

import keras
import mlflow
from omegaconf import OmegaConf

from custom_dense_lab.benchmark.pairing import BenchSettings, time_model_pair
from custom_dense_lab.data import load_dataset
from custom_dense_lab.process import backends, signals
from custom_dense_lab.process.job_settings import job_settings
from custom_dense_lab.reports import comparison, paired
from custom_dense_lab.tracking import lifecycle
from custom_dense_lab.training.devices import resolve_device
from custom_dense_lab.training.models import job_model


def time_sweep_pairs(parent_run_id, rounds, seconds_per_sample):
    """Times every finished custom/stock pair of a sweep and logs the figures on its parent.

    A pair that cannot be timed here (its jobs ran on a GPU this process does
    not see, a config that is gone) is recorded with the reason, and the
    report falls back to its jobs' own figures, labelled as sequential.

    Args:
        parent_run_id: The sweep's parent run.
        rounds: Rounds per measure; each round times custom and stock once.
        seconds_per_sample: Target duration of one timed sample.
    """
    pairs = comparison.pair_runs(comparison.child_runs(parent_run_id))
    if pairs.empty:
        return
    settings = BenchSettings(rounds=rounds, seconds_per_sample=seconds_per_sample)
    timed = []
    labels = comparison.pair_labels(pairs)
    for number, (label, (_, pair)) in enumerate(zip(labels, pairs.iterrows(), strict=True), 1):
        signals.raise_if_stopped()  # a stop noted while the last pair was timed
        entry = {"run_id_custom": pair["run_id_custom"], "run_id_stock": pair["run_id_stock"]}
        try:
            entry["seconds"] = backends.run_in_backend(
                _backend_of(entry["run_id_custom"]),
                _time_pair,
                mlflow.get_tracking_uri(),
                entry,
                settings,
            )
        except Exception as error:  # the pair is reported untimed, with the reason
            entry["not_timed"] = lifecycle.describe_error(error)
            print(
                f"paired timing {number}/{len(pairs)} [{label}]: not timed here "
                f"({entry['not_timed']}); the report shows its jobs' own figures",
                flush=True,
            )
        else:
            figures = paired.pair_figures(entry)
            print(
                f"paired timing {number}/{len(pairs)} [{label}]: custom / stock step time "
                f"{figures['step_time_ratio']:.3f}, latency {figures['infer_latency_ratio']:.3f}",
                flush=True,
            )
        timed.append(entry)
    document = {"rounds": rounds, "seconds_per_sample": seconds_per_sample, "pairs": timed}
    mlflow.MlflowClient().log_text(parent_run_id, json.dumps(document), paired.TIMINGS_JSON)


def _backend_of(run_id):
    """The Keras backend a job ran on (TensorFlow for a run from before the lab recorded it)."""
    return mlflow.get_run(run_id).data.tags.get("keras_backend", "tensorflow")


def _time_pair(tracking_uri, entry, settings):
    """`{measure: {layer: [seconds per round]}}` of one pair, from its jobs' logged configs.

    Runs in a process of the jobs' backend (see `process.backends`).
    """
    mlflow.set_tracking_uri(tracking_uri)
    runs = {layer: mlflow.get_run(entry[f"run_id_{layer}"]) for layer in ("custom", "stock")}
    configs = {
        layer: OmegaConf.create(mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/config.yaml"))
        for layer, run in runs.items()
    }
    cfg = configs["custom"]
    placement = resolve_device(runs["custom"].data.tags.get("device", cfg.device.name))
    keras.backend.clear_session(free_memory=False)
    with job_settings(str(cfg.trainer.precision), cfg.trainer.deterministic):
        bundle = load_dataset(cfg.dataset, cfg.trainer.batch_size, cfg.seed)
        x, y = bundle.examples("train", cfg.trainer.batch_size)
        with keras.device(placement.spec):
            models = {}
            for layer, layer_cfg in configs.items():
                keras.utils.set_random_seed(cfg.seed)
                models[layer] = job_model(layer_cfg, bundle.input_shape, bundle.num_classes)
            seconds = time_model_pair(models, x, y, settings)
    return {
        measure: {layer: times.tolist() for layer, times in by_layer.items()}
        for measure, by_layer in seconds.items()
    }
