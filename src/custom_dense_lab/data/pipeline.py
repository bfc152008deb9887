"""From a dataset config to batched train / validation / test `tf.data` pipelines, and what a run
records of them as its MLflow dataset input."""

from dataclasses import dataclass, field

import mlflow
import numpy as np
import tensorflow as tf
from mlflow.exceptions import MlflowException

from custom_dense_lab.data.sources import content_digest, load_tfds, make_synthetic
from custom_dense_lab.process.reuse import ProcessReuse

# Evaluation keeps no gradients: larger batches give the same metrics in fewer steps.
EVALUATION_BATCH_SIZE = 1024


@dataclass
class DatasetBundle:
    """Batched pipelines of `(float32 features in [0, 1], int64 labels)`, what a run records, and
    the unscaled splits as numpy pairs (`arrays`), which `scale` takes to [0, 1]."""

    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset
    input_shape: tuple
    num_classes: int
    sizes: dict
    name: str
    lineage: dict
    arrays: dict = field(repr=False)
    scale: float

    def examples(self, split, count):
        """The first `count` examples of `split` as numpy `(features, labels)`, as the pipelines give them."""
        features, labels = self.arrays[split]
        return _scaled(features[:count], self.scale), labels[:count].astype(np.int64)


def load_dataset(config, batch_size, seed, reuse=None):
    """The `DatasetBundle` of a `dataset` config: validation carved from the training split by
    `seed`, which reshuffles the training batches every epoch; `reuse` (a `ProcessReuse`) keeps
    what was read and built for later jobs (default: nothing is kept)."""
    reuse = reuse or ProcessReuse()
    if config.name == "synthetic":
        source = make_synthetic(
            config.n_samples, config.n_features, config.n_classes, config.test_fraction, seed
        )
    else:
        source = load_tfds(config.name, reuse, config.data_dir, config.download)
    (features, labels), test, num_classes, max_value, lineage = source
    order = np.random.default_rng(seed).permutation(len(labels))
    n_val = max(1, round(len(order) * config.val_fraction))
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    arrays = {
        "train": (features[train_idx], labels[train_idx]),
        "validation": (features[val_idx], labels[val_idx]),
        "test": test,
    }
    scale = 1.0 / max_value

    def evaluation():  # an entry holds its source's features, so that their id is not reused
        return features, *(
            _pipeline(*arrays[split], scale, EVALUATION_BATCH_SIZE)
            for split in ("validation", "test")
        )

    key = (id(features), val_idx.tobytes())
    shared = reuse.get("evaluation pipelines", key, evaluation)
    if shared[0] is not features:
        shared = reuse.put("evaluation pipelines", key, evaluation())
    return DatasetBundle(
        train=_pipeline(*arrays["train"], scale, batch_size, shuffle_seed=seed),
        validation=shared[1],
        test=shared[2],
        input_shape=tuple(features.shape[1:]),
        num_classes=num_classes,
        sizes={split: len(split_labels) for split, (_, split_labels) in arrays.items()},
        name=config.name,
        lineage=lineage,
        arrays=arrays,
        scale=scale,
    )


def describe_dataset(bundle):
    """`(dataset, tags)` for `mlflow.log_input`: the training split, with a digest of every split
    (MLflow's own covers the first 10,000 training rows), 64 bits of it shown."""
    parts = {
        f"{split}_{part}": array
        for split, pair in bundle.arrays.items()
        for part, array in zip(("features", "labels"), pair, strict=True)
    }
    dataset = mlflow.data.from_numpy(
        bundle.arrays["train"][0],
        targets=bundle.arrays["train"][1],
        source=bundle.lineage.get("data_dir"),
        name=bundle.name,
        digest=content_digest(parts)[:16],
    )
    sizes = {f"{split}_size": str(size) for split, size in bundle.sizes.items()}
    return dataset, {
        "builder": bundle.lineage["builder"],
        "version": bundle.lineage["version"],
        **sizes,
    }


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
