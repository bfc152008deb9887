"""Datasets as batched `tf.data` pipelines: TFDS's (the offline `sklearn_digits` builder, the
catalog) and a seeded generator's; and what a run records of them as its MLflow dataset input."""

import collections
import contextlib
import functools
import hashlib
import os
import pathlib
import socket
import zipfile
from urllib.parse import urlsplit

import mlflow
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from mlflow.exceptions import MlflowException
from sklearn.datasets import load_digits, make_classification
from sklearn.model_selection import train_test_split

from custom_dense_lab.errors import ConfigError, DatasetUnavailableError
from custom_dense_lab.process.reuse import ProcessReuse

ARRAYS_FILE = "custom_dense_arrays.npz"  # the splits, saved by the first reader (docs/datasets.md)
_OFFLINE = "use dataset=digits (prepared offline from scikit-learn) or a data_dir where it is already prepared"
_FIELDS = "train validation test input_shape num_classes sizes name lineage arrays scale"


class DatasetBundle(collections.namedtuple("DatasetBundle", _FIELDS)):
    """Batched pipelines of `(float32 features in [0, 1], int64 labels)`, what a run records, and
    the unscaled splits as numpy pairs (`arrays`), which `scale` takes to [0, 1]."""

    def examples(self, split, count):
        """The first `count` examples of `split` as numpy arrays, as the pipelines give them."""
        return _scaled(self.arrays[split], self.scale, count)


class SklearnDigits(tfds.core.GeneratorBasedBuilder):
    """scikit-learn's 1,797 handwritten digits (UCI), pixels 0..16 scaled to 0..255, with a fixed
    test split of 360 images stratified by class (`random_state=0`)."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        image = tfds.features.Image(shape=(8, 8, 1))
        label = tfds.features.ClassLabel(num_classes=10)
        return self.dataset_info_from_configs(
            description=self.__doc__,
            features=tfds.features.FeaturesDict({"image": image, "label": label}),
            supervised_keys=("image", "label"),
            homepage="https://archive.ics.uci.edu/dataset/80",
        )

    def _split_generators(self, dl_manager):
        digits = load_digits()  # scikit-learn's package data: nothing to download
        images = np.round(digits.images * (255 / 16)).astype(np.uint8)[..., None]
        split = {"test_size": 360, "stratify": digits.target, "random_state": 0}
        train, test = train_test_split(np.arange(len(digits.target)), **split)
        examples = functools.partial(self._generate_examples, images, digits.target)
        return {"train": examples(train), "test": examples(test)}

    def _generate_examples(self, images, labels, indices):
        for index in indices:
            yield int(index), {"image": images[index], "label": int(labels[index])}


def load_dataset(config, batch_size, seed, reuse=None):
    """The `DatasetBundle` of a `dataset` config, its validation split and training order by `seed`;
    `reuse` (a `ProcessReuse`) keeps what was read and built for later jobs."""
    reuse = reuse or ProcessReuse()
    source = _synthetic(config, seed) if config.name == "synthetic" else _tfds(config, reuse)
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
        lambda: (features, *(_pipeline(arrays[s], scale, 1024) for s in ("validation", "test"))),
    )
    train = _pipeline(arrays["train"], scale, batch_size, shuffle_seed=seed)
    sizes, shape = {split: len(pair[1]) for split, pair in arrays.items()}, features.shape[1:]
    return DatasetBundle(
        train, *evaluation[1:], shape, classes, sizes, config.name, lineage, arrays, scale
    )


def describe_dataset(bundle):
    """`(dataset, tags)` for `mlflow.log_input`: the training split, with a SHA-256 of every split
    (MLflow's own covers the first 10,000 training rows), 64 bits of it shown."""
    digest = hashlib.sha256()
    for split, (features, labels) in sorted(bundle.arrays.items()):
        for part, array in (("features", features), ("labels", labels)):
            array = np.ascontiguousarray(array)
            digest.update(f"{split}_{part} {array.dtype.str} {array.shape}\n".encode())
            digest.update(array)
    (x, y), lineage = bundle.arrays["train"], bundle.lineage
    source, digest = lineage.get("data_dir"), digest.hexdigest()[:16]
    dataset = mlflow.data.from_numpy(x, targets=y, source=source, name=bundle.name, digest=digest)
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


def _tfds(config, reuse):
    """A TFDS dataset, prepared first if needed (refused at once where it cannot be), kept in `reuse`."""
    name = config.name
    root = config.data_dir or os.environ.get("TFDS_DATA_DIR") or tfds.core.constants.DATA_DIR
    root = os.path.expanduser(root)
    builder = tfds.builder(SklearnDigits.name if name == "digits" else name, data_dir=root)
    if not builder.is_prepared():
        writable = os.path.abspath(root)
        while not os.path.exists(writable):
            writable = os.path.dirname(writable)
        if not (os.path.isdir(writable) and os.access(writable, os.W_OK)):
            raise ConfigError(
                "dataset.data_dir", root, f"a writable folder to prepare dataset={name} in"
            )
        if builder.url_infos and not config.download:
            raise DatasetUnavailableError(
                f"dataset={name} is not prepared in {builder.data_dir} and dataset.download=false: {_OFFLINE}."
            )
        urls = [urlsplit(url) for url in builder.url_infos or ()]
        hosts = {(u.hostname, u.port or {"https": 443}.get(u.scheme, 80)) for u in urls}
        for host, port in sorted(hosts):
            try:  # in seconds, where TFDS would retry for minutes
                socket.create_connection((host, port), timeout=3.0).close()
            except OSError as error:
                raise DatasetUnavailableError(
                    f"dataset={name} needs a download from {host}, which is unreachable "
                    f"({type(error).__name__}): {_OFFLINE}."
                ) from None
        builder.download_and_prepare()

    def read():  # from the file the first reader saved, while it names the prepared files as they are
        folder = pathlib.Path(builder.data_dir)
        prepared = sorted(
            f"{entry.name} {entry.stat().st_size} {entry.stat().st_mtime_ns}"
            for entry in os.scandir(folder)
            if entry.is_file() and not entry.name.startswith(".") and entry.name != ARRAYS_FILE
        )
        unreadable = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)  # or damaged
        with contextlib.suppress(*unreadable), np.load(folder / ARRAYS_FILE) as saved:
            if saved["prepared_files"].tolist() == prepared:
                return (saved["arr_0"], saved["arr_1"]), (saved["arr_2"], saved["arr_3"])
        splits = []
        for split in ("train", "test"):
            batches = tfds.as_numpy(builder.as_dataset(split=split, as_supervised=True).batch(4096))
            splits.append(tuple(map(np.concatenate, zip(*batches, strict=True))))
        partial = folder / f".{ARRAYS_FILE}.{socket.gethostname()}.{os.getpid()}.partial"
        try:  # saved in one step, where the folder allows
            with open(partial, "wb") as file:
                np.savez(file, *splits[0], *splits[1], prepared_files=prepared)
            os.replace(partial, folder / ARRAYS_FILE)
        except OSError:
            partial.unlink(missing_ok=True)
        return splits

    train, test = reuse.get("sources", (builder.name, root), read)
    lineage = dict(
        builder=builder.name, version=str(builder.version), data_dir=str(builder.data_dir)
    )
    return train, test, builder.info.features["label"].num_classes, 255.0, lineage


def _synthetic(config, seed):
    """scikit-learn's `make_classification` for `seed`, features in [0, 1], the last samples for test."""
    m, n, k = config.n_samples, config.n_features, config.n_classes
    features, labels = make_classification(
        m, n, n_informative=n, n_redundant=0, n_classes=k, n_clusters_per_class=1, random_state=seed
    )
    features = ((features - features.min()) / (features.max() - features.min())).astype(np.float32)
    split = m - round(m * config.test_fraction)
    lineage = {"builder": "synthetic", "version": "sklearn.make_classification"}
    return (features[:split], labels[:split]), (features[split:], labels[split:]), k, 1.0, lineage


def _pipeline(pair, scale, batch_size, shuffle_seed=None):
    # Scaled here, once, rather than by a `map` each new pipeline would trace and run.
    dataset = tf.data.Dataset.from_tensor_slices(_scaled(pair, scale))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(pair[1]), seed=shuffle_seed, reshuffle_each_iteration=True)
    # Batches come from memory: tf.data's autotuning thread would only compete with training.
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE).with_options(options)


def _scaled(pair, scale, count=None):
    return pair[0][:count].astype(np.float32) * np.float32(scale), pair[1][:count].astype(np.int64)
