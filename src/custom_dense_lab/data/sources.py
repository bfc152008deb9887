"""Where examples come from: TFDS builders (local or catalog) and a seeded generator."""

import dataclasses
import hashlib
import os
import pathlib
import socket
import time
import zipfile
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np
import tensorflow_datasets as tfds
from sklearn.datasets import make_classification

from custom_dense_lab.data import sklearn_digits
from custom_dense_lab.errors import ConfigError, DatasetUnavailableError

# Dataset names as users type them (`dataset=...`), and the TFDS builders behind them.
TFDS_BUILDERS = {
    "digits": sklearn_digits.SklearnDigits.name,
    "mnist": "mnist",
    "fashion_mnist": "fashion_mnist",
}
_PROBE_TIMEOUT_S = 3.0
ARRAYS_FILE = "custom_dense_arrays.npz"  # the splits, saved by the first reader (docs/datasets.md)
_ARRAY_NAMES = ("train_features", "train_labels", "test_features", "test_labels")


@dataclass(frozen=True)
class SourceData:
    """A dataset's `(features, labels)` splits before validation is carved off and features scaled."""

    train: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    num_classes: int
    max_value: float
    lineage: dict = field(default_factory=dict)


def content_digest(arrays):
    """A SHA-256 hex digest of `{name: array}`: every name, dtype, shape and byte, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name} {array.dtype.str} {array.shape}\n".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def load_tfds(name, reuse, data_dir=None, download=True):
    """A TFDS dataset's `SourceData` (in `data_dir`, else `$TFDS_DATA_DIR`, else TFDS's folder),
    prepared first if needed, kept in `reuse`; a download is refused in seconds when its hosts
    do not answer."""
    root = data_dir or os.environ.get("TFDS_DATA_DIR") or tfds.core.constants.DATA_DIR
    root = os.path.expanduser(root)
    builder = tfds.builder(TFDS_BUILDERS[name], data_dir=root)
    prepare_time_s = 0.0
    if not builder.is_prepared():
        if not _is_writable(root):
            raise ConfigError(
                "dataset.data_dir", root, f"a writable folder to prepare dataset={name} in"
            )
        if builder.url_infos:
            _require_download(name, builder, download)
        started = time.perf_counter()
        builder.download_and_prepare()
        prepare_time_s = time.perf_counter() - started
    key = (TFDS_BUILDERS[name], root)
    source = reuse.get("sources", key, lambda: _read_prepared(*key))
    return dataclasses.replace(source, lineage={**source.lineage, "prepare_time_s": prepare_time_s})


def _read_prepared(builder_name, root):
    builder = tfds.builder(builder_name, data_dir=root)
    arrays = _arrays(builder)
    train, test = ((arrays[f"{s}_features"], arrays[f"{s}_labels"]) for s in ("train", "test"))
    lineage = {"builder": builder.name, "version": str(builder.version)}
    lineage["data_dir"] = str(builder.data_dir)
    return SourceData(train, test, builder.info.features["label"].num_classes, 255.0, lineage)


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
    features = (features - features.min()) / (features.max() - features.min())
    features, labels = features.astype(np.float32), labels.astype(np.int64)
    split = n_samples - round(n_samples * test_fraction)
    lineage = {"builder": "synthetic", "version": "sklearn.make_classification"}
    train, test = (features[:split], labels[:split]), (features[split:], labels[split:])
    return SourceData(train, test, n_classes, 1.0, lineage)


def _arrays(builder):
    """The train and test splits, read-only, from `ARRAYS_FILE` while it matches the prepared
    files (their names, sizes and times) and its digest; else from the TFRecords, saved anew."""
    folder = pathlib.Path(builder.data_dir)
    prepared = _prepared_files(folder)
    try:
        with np.load(folder / ARRAYS_FILE) as stored:
            if stored["prepared_files"].tolist() != prepared:
                raise ValueError("the dataset was prepared again")
            arrays = {name: stored[name] for name in _ARRAY_NAMES}
            if str(stored["content_digest"]) != content_digest(arrays):
                raise ValueError("the saved arrays were changed")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # absent, stale, damaged
        arrays = {}
        for split in ("train", "test"):
            batches = builder.as_dataset(split=split, as_supervised=True).batch(4096)
            features, labels = zip(*tfds.as_numpy(batches), strict=True)
            arrays[f"{split}_features"] = np.concatenate(features)
            arrays[f"{split}_labels"] = np.concatenate(labels)
        saved = {"prepared_files": np.array(prepared), "content_digest": content_digest(arrays)}
        _save_quietly(folder / ARRAYS_FILE, {**arrays, **saved})
    for array in arrays.values():
        array.flags.writeable = False
    return arrays


def _prepared_files(folder):
    """`name size mtime_ns` of each file TFDS prepared in `folder`, sorted."""
    return sorted(
        f"{entry.name} {entry.stat().st_size} {entry.stat().st_mtime_ns}"
        for entry in os.scandir(folder)
        if entry.is_file() and not entry.name.startswith(".") and entry.name != ARRAYS_FILE
    )


def _save_quietly(path, arrays):
    """Saves `arrays` in `path` in one step, where the folder allows."""
    partial = path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}.partial")
    try:
        with open(partial, "wb") as file:
            np.savez(file, **arrays)
        os.replace(partial, path)
    except OSError:
        partial.unlink(missing_ok=True)


def _is_writable(path):
    """Whether `path` is, or could be created as, a folder this process can write."""
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return os.path.isdir(path) and os.access(path, os.W_OK)


def _require_download(name, builder, download):
    offline_hint = (
        "use dataset=digits (prepared offline from scikit-learn) or a data_dir "
        "where it is already prepared"
    )
    if not download:
        raise DatasetUnavailableError(
            f"dataset={name} is not prepared in {builder.data_dir} and dataset.download=false: "
            f"{offline_hint}."
        )
    urls = [urlsplit(url) for url in builder.url_infos]
    for host, port in sorted(
        {(u.hostname, u.port or (443 if u.scheme == "https" else 80)) for u in urls}
    ):
        try:
            socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_S).close()
        except OSError as error:
            raise DatasetUnavailableError(
                f"dataset={name} needs a download from {host}, which is unreachable "
                f"({error.__class__.__name__}): {offline_hint}."
            ) from None
