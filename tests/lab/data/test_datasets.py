"""Datasets: offline digits through TFDS, catalog datasets, synthetic data, bad input.

Bad dataset settings are refused with the config, before any data loads:
tests/lab/config/test_validation.py.
"""

import os
import time
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow_datasets as tfds

from custom_dense_lab import data
from custom_dense_lab.data import describe_dataset, load_dataset
from custom_dense_lab.errors import ConfigError, DatasetUnavailableError
from custom_dense_lab.process.reuse import ProcessReuse


def tfds_config(name="digits", **overrides):
    return SimpleNamespace(
        **{"name": name, "data_dir": None, "download": True, "val_fraction": 0.1, **overrides}
    )


def synthetic_config(**overrides):
    values = {
        "name": "synthetic",
        "val_fraction": 0.1,
        "n_samples": 300,
        "n_features": 12,
        "n_classes": 3,
        "test_fraction": 0.2,
    }
    return SimpleNamespace(**{**values, **overrides})


def all_examples(dataset):
    features, labels = zip(*((x.numpy(), y.numpy()) for x, y in dataset), strict=True)
    return np.concatenate(features), np.concatenate(labels)


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tfds"))


def test_digits_prepares_once_offline_then_reuses(digits_dir):
    bundle = load_dataset(tfds_config(data_dir=digits_dir), batch_size=64, seed=0)
    assert bundle.lineage["builder"] == "sklearn_digits"
    assert bundle.lineage["version"] == "1.0.0"
    prepared = os.path.join(digits_dir, "sklearn_digits", "1.0.0")
    assert os.path.isfile(os.path.join(prepared, "dataset_info.json"))
    stamp = {
        name: os.stat(os.path.join(prepared, name)).st_mtime_ns for name in os.listdir(prepared)
    }

    load_dataset(tfds_config(data_dir=digits_dir), batch_size=64, seed=0)
    assert {
        n: os.stat(os.path.join(prepared, n)).st_mtime_ns for n in os.listdir(prepared)
    } == stamp

    assert bundle.sizes == {"train": 1293, "validation": 144, "test": 360}
    assert bundle.input_shape == (8, 8, 1) and bundle.num_classes == 10
    features, labels = all_examples(bundle.train)
    assert features.dtype == np.float32 and labels.dtype == np.int64
    assert features.shape == (1293, 8, 8, 1)
    assert features.min() == 0.0 and features.max() == 1.0
    assert set(np.unique(labels)) == set(range(10))


def test_digits_is_a_registered_tfds_dataset(digits_dir):
    load_dataset(tfds_config(data_dir=digits_dir), batch_size=64, seed=0)
    dataset, info = tfds.load("sklearn_digits", split="test", data_dir=digits_dir, with_info=True)
    assert info.splits["train"].num_examples == 1437
    assert info.splits["test"].num_examples == 360
    assert len(list(dataset)) == 360


def test_tfds_data_dir_environment_variable_is_honoured(digits_dir, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", digits_dir)
    bundle = load_dataset(tfds_config(), batch_size=64, seed=0)
    assert bundle.lineage["data_dir"].startswith(digits_dir)


def test_split_and_order_are_determined_by_the_seed(digits_dir):
    first = load_dataset(tfds_config(data_dir=digits_dir), batch_size=50, seed=1)
    second = load_dataset(tfds_config(data_dir=digits_dir), batch_size=50, seed=1)
    other = load_dataset(tfds_config(data_dir=digits_dir), batch_size=50, seed=2)
    for split in ("train", "validation", "test"):
        np.testing.assert_array_equal(
            all_examples(getattr(first, split))[0], all_examples(getattr(second, split))[0]
        )
    assert not np.array_equal(all_examples(first.validation)[1], all_examples(other.validation)[1])
    epoch_one, epoch_two = all_examples(first.train)[1], all_examples(first.train)[1]
    assert not np.array_equal(epoch_one, epoch_two), "training data reshuffles every epoch"
    np.testing.assert_array_equal(np.sort(epoch_one), np.sort(epoch_two))
    assert describe_dataset(first)[0].digest == describe_dataset(second)[0].digest
    assert describe_dataset(first)[0].digest != describe_dataset(other)[0].digest


def test_synthetic_data_is_deterministic_by_seed():
    first = load_dataset(synthetic_config(), batch_size=32, seed=5)
    second = load_dataset(synthetic_config(), batch_size=32, seed=5)
    other = load_dataset(synthetic_config(), batch_size=32, seed=6)
    assert first.sizes == {"train": 216, "validation": 24, "test": 60}
    assert first.input_shape == (12,) and first.num_classes == 3
    np.testing.assert_array_equal(all_examples(first.test)[0], all_examples(second.test)[0])
    assert not np.array_equal(all_examples(first.test)[0], all_examples(other.test)[0])
    features = all_examples(first.train)[0]
    assert features.min() >= 0.0 and features.max() <= 1.0


def test_mnist_loads_from_a_prepared_data_dir(tmp_path):
    builder = tfds.builder("mnist", data_dir=str(tmp_path))
    os.makedirs(builder.data_dir)
    builder.info.write_to_directory(builder.data_dir)
    with tfds.testing.mock_data(num_examples=40, data_dir=str(tmp_path)):
        bundle = load_dataset(tfds_config("mnist", data_dir=str(tmp_path)), batch_size=16, seed=0)
    assert bundle.input_shape == (28, 28, 1) and bundle.num_classes == 10
    assert bundle.sizes == {"train": 36, "validation": 4, "test": 40}
    assert bundle.lineage["builder"] == "mnist"
    features, _ = all_examples(bundle.train)
    assert features.dtype == np.float32 and features.max() <= 1.0


def test_catalog_dataset_without_network_fails_fast_and_clearly(tmp_path):
    name = "fashion_mnist"
    if os.environ.get("CUSTOM_DENSE_ONLINE"):
        pytest.skip("this machine can reach the dataset hosts")
    started = time.perf_counter()
    with pytest.raises(DatasetUnavailableError) as raised:
        load_dataset(tfds_config(name, data_dir=str(tmp_path)), batch_size=16, seed=0)
    assert time.perf_counter() - started < 30
    message = str(raised.value)
    assert "\n" not in message
    assert f"dataset={name}" in message and "dataset=digits" in message and "download" in message


def test_catalog_dataset_with_download_disabled_fails_at_once(tmp_path):
    with pytest.raises(DatasetUnavailableError, match=r"dataset.download=false"):
        load_dataset(tfds_config("mnist", data_dir=str(tmp_path), download=False), 16, 0)


@pytest.mark.parametrize("kind", ["under_a_file", "read_only"])
def test_unwritable_data_dir_is_refused_before_preparing(tmp_path, kind):
    if kind == "under_a_file":
        (tmp_path / "a_file").write_text("")
        data_dir = tmp_path / "a_file" / "tfds"
    else:
        data_dir = tmp_path / "read_only"
        data_dir.mkdir()
        data_dir.chmod(0o555)
        if os.access(data_dir, os.W_OK):
            pytest.skip("root writes through read-only permissions")
    with pytest.raises(ConfigError, match=r"Invalid dataset.data_dir=.*writable"):
        load_dataset(tfds_config(data_dir=str(data_dir)), batch_size=8, seed=0)


def test_the_first_reader_saves_the_splits_beside_the_prepared_files_for_later_ones(tmp_path):
    config = tfds_config(data_dir=str(tmp_path))
    first = load_dataset(config, batch_size=64, seed=0)
    saved = tmp_path / "sklearn_digits" / "1.0.0" / data.ARRAYS_FILE
    assert saved.is_file()
    saved.write_bytes(saved.read_bytes()[:100])  # damaged: read from the TFRecords again
    again = load_dataset(config, batch_size=64, seed=0)
    from_file = load_dataset(config, batch_size=64, seed=0)
    for bundle in (again, from_file):
        for split in ("train", "validation", "test"):
            for ours, theirs in zip(first.arrays[split], bundle.arrays[split], strict=True):
                np.testing.assert_array_equal(ours, theirs)
                assert ours.dtype == theirs.dtype
    assert saved.stat().st_size > 1000

    (record,) = saved.parent.glob("*-train.tfrecord*")  # prepared again: the saved copy is stale
    os.utime(record, ns=(record.stat().st_atime_ns, record.stat().st_mtime_ns + 10**9))
    before = saved.stat().st_mtime_ns
    load_dataset(config, batch_size=64, seed=0)
    assert saved.stat().st_mtime_ns != before


def test_evaluation_runs_in_large_batches_and_no_pipeline_autotunes(digits_dir):
    bundle = load_dataset(tfds_config(data_dir=digits_dir), batch_size=64, seed=0)
    assert [len(y) for _, y in bundle.validation] == [144]
    assert [len(y) for _, y in bundle.test] == [360]
    assert max(len(y) for _, y in bundle.train) == 64
    for dataset in (bundle.train, bundle.validation, bundle.test):
        assert dataset.options().autotune.enabled is False
    features, labels = bundle.examples("test", 5)
    np.testing.assert_array_equal(features, all_examples(bundle.test)[0][:5])
    assert labels.dtype == np.int64


def test_jobs_with_the_same_source_and_split_share_the_evaluation_pipelines(digits_dir):
    config = tfds_config(data_dir=digits_dir)
    reuse = ProcessReuse()
    first = load_dataset(config, batch_size=64, seed=0, reuse=reuse)
    same = load_dataset(config, batch_size=32, seed=0, reuse=reuse)
    other = load_dataset(config, batch_size=64, seed=1, reuse=reuse)
    assert same.validation is first.validation and same.test is first.test
    assert other.validation is not first.validation
    assert same.train is not first.train  # each job's shuffle starts from its seed
    assert (reuse.size("sources"), reuse.size("evaluation pipelines")) == (1, 2)
    alone = load_dataset(config, batch_size=64, seed=0)  # without a `ProcessReuse`: nothing shared
    assert alone.validation is not first.validation
    synthetic = [
        load_dataset(synthetic_config(), batch_size=64, seed=0, reuse=reuse) for _ in range(2)
    ]
    assert synthetic[0].validation is not synthetic[1].validation  # new arrays each time
    assert np.array_equal(*(all_examples(bundle.validation)[1] for bundle in synthetic))


def test_the_logged_digest_tells_apart_datasets_that_differ_in_any_split(digits_dir):
    bundle = load_dataset(tfds_config(data_dir=digits_dir), batch_size=64, seed=0)
    features, labels = bundle.arrays["test"]
    other = bundle._replace(arrays={**bundle.arrays, "test": (features, np.roll(labels, 1))})
    same = bundle._replace(arrays=dict(bundle.arrays))
    assert describe_dataset(same)[0].digest == describe_dataset(bundle)[0].digest
    assert describe_dataset(other)[0].digest != describe_dataset(bundle)[0].digest
