"""What a run trained on, as an MLflow dataset input: name, version, sizes, digest."""

import mlflow
from mlflow.exceptions import MlflowException

from custom_dense_lab.data.digest import content_digest

# The digest's length in the MLflow UI: 64 bits of the SHA-256.
_DIGEST_CHARS = 16


def describe_dataset(bundle):
    """Describes a `DatasetBundle`'s training split for `mlflow.log_input`.

    The digest covers every example of every split (training, validation and
    test; MLflow's own covers the first 10,000 training rows), so two runs
    share it exactly when they trained, validated and were tested on the same
    examples.

    Args:
        bundle: A `DatasetBundle`.

    Returns:
        A pair `(dataset, tags)`: an `mlflow.data` dataset named after the
        configured dataset, sourced from its prepared TFDS folder (or the code,
        for synthetic data), and input tags with the builder, its version and
        the split sizes.
    """
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
    """Logs the bundle's training data as an input of the active MLflow run.

    Parallel jobs may log the same dataset at the same moment; on a database
    server the store then refuses the second one as a duplicate, which already
    exists by then, so that one is logged once more.
    """
    dataset, tags = describe_dataset(bundle)
    try:
        mlflow.log_input(dataset, context="training", tags=tags)
    except MlflowException as error:
        if "UniqueViolation" not in str(error) and "UNIQUE constraint" not in str(error):
            raise
        mlflow.log_input(dataset, context="training", tags=tags)
