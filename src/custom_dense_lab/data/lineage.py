"""What a run trained on, as an MLflow dataset input: name, version, sizes, digest."""

import mlflow
from mlflow.exceptions import MlflowException

from custom_dense_lab.data.sources import content_digest

_DIGEST_CHARS = 16  # 64 bits of the SHA-256 in the MLflow UI


def describe_dataset(bundle):
    """`(dataset, tags)` for `mlflow.log_input`: the training split, with a digest of every split
    (MLflow's own covers the first 10,000 training rows)."""
    features, labels = bundle.arrays["train"]
    dataset = mlflow.data.from_numpy(
        features,
        targets=labels,
        source=bundle.lineage.get("data_dir"),
        name=bundle.name,
        digest=content_digest(
            {
                f"{split}_{part}": array
                for split, pair in bundle.arrays.items()
                for part, array in zip(("features", "labels"), pair, strict=True)
            }
        )[:_DIGEST_CHARS],
    )
    tags = {
        "builder": bundle.lineage.get("builder", bundle.name),
        "version": bundle.lineage.get("version", ""),
        **{f"{split}_size": str(size) for split, size in bundle.sizes.items()},
    }
    return dataset, tags


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
