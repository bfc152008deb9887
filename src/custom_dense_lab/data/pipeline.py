"""From a dataset config to batched train / validation / test `tf.data` pipelines."""

from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from custom_dense_lab.data.sources import load_tfds, make_synthetic
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
    lineage: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict, repr=False)
    scale: float = 1.0

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

    train_features, train_labels = source.train
    order = np.random.default_rng(seed).permutation(len(train_labels))
    n_val = max(1, round(len(order) * config.val_fraction))
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    arrays = {
        "train": (train_features[train_idx], train_labels[train_idx]),
        "validation": (train_features[val_idx], train_labels[val_idx]),
        "test": source.test,
    }
    scale = 1.0 / source.max_value
    validation, test = _evaluation_pipelines(source, val_idx, scale, reuse)
    return DatasetBundle(
        train=_pipeline(*arrays["train"], scale, batch_size, shuffle_seed=seed),
        validation=validation,
        test=test,
        input_shape=tuple(train_features.shape[1:]),
        num_classes=source.num_classes,
        sizes={split: len(labels) for split, (_, labels) in arrays.items()},
        name=config.name,
        lineage=source.lineage,
        arrays=arrays,
        scale=scale,
    )


def _evaluation_pipelines(source, val_idx, scale, reuse):
    """The validation and test pipelines, shared by a process's jobs (they keep no state); an
    entry holds its source's features, so that their id cannot come back for other arrays."""
    features, labels = source.train

    def build():
        validation = _pipeline(features[val_idx], labels[val_idx], scale, EVALUATION_BATCH_SIZE)
        return features, validation, _pipeline(*source.test, scale, EVALUATION_BATCH_SIZE)

    key = (id(features), val_idx.tobytes())
    entry = reuse.get("evaluation pipelines", key, build)
    if entry[0] is not features:
        entry = reuse.put("evaluation pipelines", key, build())
    return entry[1], entry[2]


def _pipeline(features, labels, scale, batch_size, shuffle_seed=None):
    # Scaled here, once, rather than by a `map` each new pipeline would trace and run.
    dataset = tf.data.Dataset.from_tensor_slices(
        (_scaled(features, scale), labels.astype(np.int64))
    )
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(labels), seed=shuffle_seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    # Batches come from memory: tf.data's autotuning thread would only compete with training.
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def _scaled(features, scale):
    return features.astype(np.float32) * np.float32(scale)
