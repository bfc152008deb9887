"""Datasets (the offline `sklearn_digits` TFDS builder, catalog, synthetic), pipelines, lineage."""

from custom_dense_lab.data.pipeline import DatasetBundle, load_dataset, log_dataset_inputs
from custom_dense_lab.data.sources import SklearnDigits

__all__ = ["DatasetBundle", "SklearnDigits", "load_dataset", "log_dataset_inputs"]
