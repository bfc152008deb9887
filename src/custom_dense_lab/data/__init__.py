"""Datasets (`sources.py`: the offline `sklearn_digits` TFDS builder, the catalog, synthetic) as
batched `tf.data` pipelines, and what a run records of them as its MLflow dataset input."""

import collections
import hashlib

import mlflow
import numpy as np
import tensorflow as tf
from mlflow.exceptions import MlflowException

from custom_dense_lab.data.sources import load_tfds, make_synthetic
from custom_dense_lab.process.reuse import ProcessReuse

_FIELDS = "train validation test input_shape num_classes sizes name lineage arrays scale"


class DatasetBundle(collections.namedtuple("DatasetBundle", _FIELDS)):
    """Batched pipelines of `(float32 features in [0, 1], int64 labels)`, what a run records, and
    the unscaled splits as numpy pairs (`arrays`), which `scale` takes to [0, 1]."""

    def examples(self, split, count):
        """The first `count` examples of `split` as numpy arrays, as the pipelines give them."""
        features, labels = self.arrays[split]
        return _scaled(features[:count], self.scale), labels[:count].astype(np.int64)


def load_dataset(config, batch_size, seed, reuse=None):
    """The `DatasetBundle` of a `dataset` config: validation carved from the training split by
    `seed`, which reshuffles the training batches every epoch; `reuse` (a `ProcessReuse`) keeps
    what was read and built for later jobs (default: nothing is kept)."""
    reuse = reuse or ProcessReuse()
    synthetic = config.name == "synthetic"
    source = make_synthetic(config, seed) if synthetic else load_tfds(config, reuse)
    (features, labels), test, classes, max_value, lineage = source
    order = np.random.default_rng(seed).permutation(len(labels))
    n_val = max(1, round(len(order) * config.val_fraction))
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    arrays = {"train": (features[train_idx], labels[train_idx]), "test": test}
    arrays["validation"] = features[val_idx], labels[val_idx]
    scale = 1.0 / max_value
    # Evaluation keeps no gradients: larger batches give the same metrics in fewer steps. An
    # entry holds its source's features, so that no other array takes their id meanwhile.
    evaluation = reuse.get(
        "evaluation pipelines",
        (id(features), val_idx.tobytes()),
        lambda: (features, *(_pipeline(*arrays[s], scale, 1024) for s in ("validation", "test"))),
    )
    train = _pipeline(*arrays["train"], scale, batch_size, shuffle_seed=seed)
    sizes, shape = {split: len(pair[1]) for split, pair in arrays.items()}, features.shape[1:]
    return DatasetBundle(
        train, *evaluation[1:], shape, classes, sizes, config.name, lineage, arrays, scale
    )


def describe_dataset(bundle):
    """`(dataset, tags)` for `mlflow.log_input`: the training split, with a SHA-256 of every split
    (MLflow's own covers the first 10,000 training rows), 64 bits of it shown."""
    digest = hashlib.sha256()
    for split, pair in sorted(bundle.arrays.items()):
        for part, array in zip(
            ("features", "labels"), map(np.ascontiguousarray, pair), strict=True
        ):
            digest.update(f"{split}_{part} {array.dtype.str} {array.shape}\n".encode())
            digest.update(array)
    (features, labels), lineage = bundle.arrays["train"], bundle.lineage
    dataset = mlflow.data.from_numpy(
        features,
        targets=labels,
        source=lineage.get("data_dir"),
        name=bundle.name,
        digest=digest.hexdigest()[:16],
    )
    sizes = {f"{split}_size": str(size) for split, size in bundle.sizes.items()}
    return dataset, {"builder": lineage["builder"], "version": lineage["version"], **sizes}


def log_dataset_inputs(bundle):
    """Logs the bundle's training data as an input of the active run (again where a parallel job
    logged the same dataset at that moment: the store refuses the second as a duplicate)."""
    dataset, tags = describe_dataset(bundle)
    try:
        mlflow.log_input(dataset, context="training", tags=tags)
    except MlflowException as error:
        if "UniqueViolation" not in str(error) and "UNIQUE constraint" not in str(error):
            raise
        mlflow.log_input(dataset, context="training", tags=tags)


def _pipeline(features, labels, scale, batch_size, shuffle_seed=None):
    # Scaled here, once, rather than by a `map` each new pipeline would trace and run.
    dataset = tf.data.Dataset.from_tensor_slices(
        (_scaled(features, scale), labels.astype(np.int64))
    )
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(labels), seed=shuffle_seed, reshuffle_each_iteration=True)
    # Batches come from memory: tf.data's autotuning thread would only compete with training.
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE).with_options(options)


def _scaled(features, scale):
    return features.astype(np.float32) * np.float32(scale)
