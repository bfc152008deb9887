"""Where examples come from: TFDS builders (the offline `sklearn_digits`, the catalog) and a
seeded generator, each as `(train, test, num_classes, max_value, lineage)`."""

import hashlib
import os
import pathlib
import socket
import zipfile
from urllib.parse import urlsplit

import numpy as np
import tensorflow_datasets as tfds
from sklearn.datasets import load_digits, make_classification
from sklearn.model_selection import train_test_split

from custom_dense_lab.errors import ConfigError, DatasetUnavailableError

ARRAYS_FILE = "custom_dense_arrays.npz"  # the splits, saved by the first reader (docs/datasets.md)
_ARRAY_NAMES = ("train_features", "train_labels", "test_features", "test_labels")
_OFFLINE_HINT = (
    "use dataset=digits (prepared offline from scikit-learn) or a data_dir where it is already "
    "prepared"
)


class SklearnDigits(tfds.core.GeneratorBasedBuilder):
    """scikit-learn's 1,797 handwritten digits (UCI), pixels 0..16 scaled to 0..255.

    The split is fixed: 360 test images stratified by class (`random_state=0`), 1,437 to train.
    """

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        image, label = (
            tfds.features.Image(shape=(8, 8, 1)),
            tfds.features.ClassLabel(num_classes=10),
        )
        return self.dataset_info_from_configs(
            description=self.__doc__,
            features=tfds.features.FeaturesDict({"image": image, "label": label}),
            supervised_keys=("image", "label"),
            homepage="https://archive.ics.uci.edu/dataset/80",
        )

    def _split_generators(self, dl_manager):
        digits = load_digits()  # scikit-learn's package data: nothing to download
        images = np.round(digits.images * (255 / 16)).astype(np.uint8)[..., None]
        splits = train_test_split(
            np.arange(len(digits.target)), test_size=360, stratify=digits.target, random_state=0
        )
        return {
            split: self._generate_examples(images, digits.target, indices)
            for split, indices in zip(("train", "test"), splits, strict=True)
        }

    def _generate_examples(self, images, labels, indices):
        for index in indices:
            yield int(index), {"image": images[index], "label": int(labels[index])}


def content_digest(arrays):
    """A SHA-256 hex digest of `{name: array}`: every name, dtype, shape and byte, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name} {array.dtype.str} {array.shape}\n".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def load_tfds(name, reuse, data_dir=None, download=True):
    """A TFDS dataset (in `data_dir`, else `$TFDS_DATA_DIR`, else TFDS's folder), prepared first
    if needed, kept in `reuse`."""
    root = data_dir or os.environ.get("TFDS_DATA_DIR") or tfds.core.constants.DATA_DIR
    root = os.path.expanduser(root)
    builder = tfds.builder(SklearnDigits.name if name == "digits" else name, data_dir=root)
    if not builder.is_prepared():
        if not _is_writable(root):
            raise ConfigError(
                "dataset.data_dir", root, f"a writable folder to prepare dataset={name} in"
            )
        if builder.url_infos:
            _require_download(name, builder, download)
        builder.download_and_prepare()

    def read():
        arrays = _arrays(pathlib.Path(builder.data_dir), builder)
        train, test = ((arrays[f"{s}_features"], arrays[f"{s}_labels"]) for s in ("train", "test"))
        lineage = {"builder": builder.name, "version": str(builder.version)}
        lineage["data_dir"] = str(builder.data_dir)
        return train, test, builder.info.features["label"].num_classes, 255.0, lineage

    return reuse.get("sources", (builder.name, root), read)


def make_synthetic(n_samples, n_features, n_classes, test_fraction, seed):
    """scikit-learn's `make_classification` for `seed`, features in [0, 1], the last samples for test."""
    features, labels = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=n_features,
        n_redundant=0,
        n_classes=n_classes,
        n_clusters_per_class=1,
        random_state=seed,
    )
    features = ((features - features.min()) / (features.max() - features.min())).astype(np.float32)
    split = n_samples - round(n_samples * test_fraction)
    lineage = {"builder": "synthetic", "version": "sklearn.make_classification"}
    train, test = (features[:split], labels[:split]), (features[split:], labels[split:])
    return train, test, n_classes, 1.0, lineage


def _arrays(folder, builder):
    """The splits, read-only, from `ARRAYS_FILE` while it matches the prepared files (their names,
    sizes and times) and its digest; else from the TFRecords, saved anew."""
    prepared = sorted(
        f"{entry.name} {entry.stat().st_size} {entry.stat().st_mtime_ns}"
        for entry in os.scandir(folder)
        if entry.is_file() and not entry.name.startswith(".") and entry.name != ARRAYS_FILE
    )
    try:
        with np.load(folder / ARRAYS_FILE) as stored:
            arrays = {name: stored[name] for name in _ARRAY_NAMES}
            if stored["prepared_files"].tolist() != prepared:
                raise ValueError("the dataset was prepared again")
            if str(stored["content_digest"]) != content_digest(arrays):
                raise ValueError("the saved arrays were changed")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # absent, stale, damaged
        arrays = {}
        for split in ("train", "test"):
            batches = builder.as_dataset(split=split, as_supervised=True).batch(4096)
            features, labels = zip(*tfds.as_numpy(batches), strict=True)
            arrays[f"{split}_features"] = np.concatenate(features)
            arrays[f"{split}_labels"] = np.concatenate(labels)
        partial = folder / f".{ARRAYS_FILE}.{socket.gethostname()}.{os.getpid()}.partial"
        try:  # saved in one step, where the folder allows
            with open(partial, "wb") as file:
                np.savez(
                    file, **arrays, prepared_files=prepared, content_digest=content_digest(arrays)
                )
            os.replace(partial, folder / ARRAYS_FILE)
        except OSError:
            partial.unlink(missing_ok=True)
    for array in arrays.values():
        array.flags.writeable = False
    return arrays


def _is_writable(path):
    """Whether `path` is, or could be created as, a folder this process can write."""
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return os.path.isdir(path) and os.access(path, os.W_OK)


def _require_download(name, builder, download):
    """Refuses, in seconds, a download that is turned off or whose hosts do not answer."""
    if not download:
        raise DatasetUnavailableError(
            f"dataset={name} is not prepared in {builder.data_dir} and dataset.download=false: "
            f"{_OFFLINE_HINT}."
        )
    urls = [urlsplit(url) for url in builder.url_infos]
    for host, port in sorted(
        {(u.hostname, u.port or (443 if u.scheme == "https" else 80)) for u in urls}
    ):
        try:
            socket.create_connection((host, port), timeout=3.0).close()
        except OSError as error:
            raise DatasetUnavailableError(
                f"dataset={name} needs a download from {host}, which is unreachable "
                f"({type(error).__name__}): {_OFFLINE_HINT}."
            ) from None
