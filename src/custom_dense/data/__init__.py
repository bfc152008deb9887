"""Datasets: the offline `sklearn_digits` TFDS builder, catalog datasets, synthetic data.

Importing this package registers the `sklearn_digits` builder with TFDS.
"""

from custom_dense.data.lineage import log_dataset_inputs
from custom_dense.data.pipeline import DatasetBundle, load_dataset
from custom_dense.data.sklearn_digits import SklearnDigits
from custom_dense.data.sources import DATASET_NAMES

__all__ = ["DATASET_NAMES", "DatasetBundle", "SklearnDigits", "load_dataset", "log_dataset_inputs"]
