"""Where examples come from: TFDS builders (the offline `sklearn_digits`, the catalog) and a
seeded generator, each as `(train, test, num_classes, max_value, lineage)`."""

import contextlib
import functools
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
_OFFLINE = "use dataset=digits (prepared offline from scikit-learn) or a data_dir where it is already prepared"


class SklearnDigits(tfds.core.GeneratorBasedBuilder):
    """scikit-learn's 1,797 handwritten digits (UCI), pixels 0..16 scaled to 0..255, with a fixed
    test split of 360 images stratified by class (`random_state=0`)."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        features = {
            "image": tfds.features.Image(shape=(8, 8, 1)),
            "label": tfds.features.ClassLabel(num_classes=10),
        }
        return self.dataset_info_from_configs(
            description=self.__doc__,
            features=tfds.features.FeaturesDict(features),
            supervised_keys=("image", "label"),
            homepage="https://archive.ics.uci.edu/dataset/80",
        )

    def _split_generators(self, dl_manager):
        digits = load_digits()  # scikit-learn's package data: nothing to download
        images = np.round(digits.images * (255 / 16)).astype(np.uint8)[..., None]
        indices = np.arange(len(digits.target))
        train, test = train_test_split(
            indices, test_size=360, stratify=digits.target, random_state=0
        )
        examples = functools.partial(self._generate_examples, images, digits.target)
        return {"train": examples(train), "test": examples(test)}

    def _generate_examples(self, images, labels, indices):
        for index in indices:
            yield int(index), {"image": images[index], "label": int(labels[index])}


def load_tfds(config, reuse):
    """A TFDS dataset (in `data_dir`, else `$TFDS_DATA_DIR`, else TFDS's folder), prepared first
    if needed (refused at once where it cannot be), its splits kept in `reuse`."""
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
        for host, port in sorted(
            {(u.hostname, u.port or {"https": 443}.get(u.scheme, 80)) for u in urls}
        ):
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


def make_synthetic(config, seed):
    """scikit-learn's `make_classification` for `seed`, features in [0, 1], the last samples for test."""
    n_samples, n, k = config.n_samples, config.n_features, config.n_classes
    features, labels = make_classification(
        n_samples,
        n,
        n_informative=n,
        n_redundant=0,
        n_classes=k,
        n_clusters_per_class=1,
        random_state=seed,
    )
    features = ((features - features.min()) / (features.max() - features.min())).astype(np.float32)
    split = n_samples - round(n_samples * config.test_fraction)
    lineage = {"builder": "synthetic", "version": "sklearn.make_classification"}
    train, test = (features[:split], labels[:split]), (features[split:], labels[split:])
    return train, test, k, 1.0, lineage
