"""What a job records in its MLflow run: params, tags, artifacts, the model."""

import functools
import importlib.metadata
import pathlib
import shutil
import urllib.parse

import git
import keras
import mlflow
import pandas as pd
import tensorflow as tf
from mlflow.entities import LoggedModelStatus
from mlflow.models import Model, infer_signature
from omegaconf import OmegaConf

import custom_dense_lab
from custom_dense_lab.tracking import keras_flavor, names

# The lab's own code: its commit is the code's, whatever folder a job runs in.
_LAB_DIR = pathlib.Path(custom_dense_lab.__file__).parent
_MODEL_REQUIREMENTS = ("keras", "numpy", "mlflow")


def config_params(cfg):
    """Returns the resolved config as MLflow params, `{dotted.key: value}`, e.g. `model.units`.

    Hydra's instantiation keys (`_target_`) say how, not what, and are left out.
    """
    container = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    flat = pd.json_normalize(container, sep=".").iloc[0].to_dict()
    return {key: value for key, value in flat.items() if not key.endswith("._target_")}


def environment_tags(layer, placement, device_kind):
    """Tags that say what ran where: implementation, device, versions, code state.

    Args:
        layer: `"custom"` or `"stock"`.
        placement: The resolved `Placement` the job asked for.
        device_kind: Where the model's variables, and so its ops, actually live.
    """
    commit, dirty = git_state(_LAB_DIR)
    return {
        "layer_impl": layer,
        "device": device_kind,
        "device_name": placement.name,
        "keras_backend": keras.config.backend(),
        **backend_versions(),
        "keras_version": keras.__version__,
        "git_commit": commit,
        "git_dirty": dirty,
    }


def backend_versions():
    """The version tags of the Keras backend this process runs on.

    `tf_version` always (the data pipelines are `tf.data` on every backend),
    and `jax_version` or `torch_version` on those backends.
    """
    versions = {"tf_version": tf.__version__}
    backend = keras.config.backend()
    if backend in ("jax", "torch"):
        versions[f"{backend}_version"] = importlib.metadata.version(backend)
    return versions


@functools.cache
def git_state(folder):
    """Returns `(commit, "true"|"false")` of the repository holding `folder`, else `("unknown",) * 2`."""
    try:
        repository = git.Repo(folder, search_parent_directories=True)
        return repository.head.commit.hexsha, str(repository.is_dirty()).lower()
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
        return "unknown", "unknown"


def log_job_artifacts(cfg, overrides, model):
    """Logs the resolved config, the overrides and the model summary as files."""
    mlflow.log_text(OmegaConf.to_yaml(cfg, resolve=True), "config.yaml")
    mlflow.log_text(OmegaConf.to_yaml(list(overrides)), "overrides.yaml")
    lines = []
    model.summary(print_fn=lambda line, **_: lines.append(line))
    mlflow.log_text("\n".join(lines), "model_summary.txt")


def model_requirements():
    """Pinned pip requirements of a logged model, from this environment's versions."""
    tensorflow = "tensorflow-cpu" if _installed("tensorflow-cpu") else "tensorflow"
    return [
        f"{name}=={importlib.metadata.version(name)}" for name in (tensorflow, *_MODEL_REQUIREMENTS)
    ]


def log_model(model, sample_inputs, sample_outputs, step, tags):
    """Logs a Keras model as `model`, with a signature, pinned requirements and the library.

    The model is saved in Keras's own format with no pickle, and loads through
    `custom_dense_pyfunc`, which imports `custom_dense` first (Keras safe mode
    stays on). Giving the signature and requirements up front skips MLflow's
    inference of both (seconds per model). A copy of the library travels with
    the model, so a process without custom_dense installed can load and
    serve it.

    The model gets the run's params, and the metrics the run logged at
    `step`; the job links its final metrics to it with `model_id`.

    Args:
        model: The trained Keras model.
        sample_inputs: A small float32 numpy batch, for the signature.
        sample_outputs: The model's outputs for `sample_inputs`.
        step: The last epoch: its metrics become the model's.
        tags: Tags of the model (the job's swept keys).

    Returns:
        The logged model's `ModelInfo`.
    """
    return Model.log(
        artifact_path=None,
        name="model",
        flavor=keras_flavor,
        flavor_name="keras",
        keras_model=model,
        signature=infer_signature(sample_inputs, sample_outputs),
        pip_requirements=model_requirements(),
        step=step,
        tags=tags,
    )


def remove_unfinished_models(run_id):
    """Deletes the local files of the run's logged models that never became READY.

    A model whose upload failed (a full disk, say) leaves a part-written copy
    that nothing can read; removing it frees the space that the run's own
    closing needs. Models in remote artifact stores are left alone.

    Returns:
        The folders removed.
    """
    experiment_id = mlflow.get_run(run_id).info.experiment_id
    models = mlflow.search_logged_models(
        experiment_ids=[experiment_id],
        filter_string=f"source_run_id = '{run_id}'",
        output_format="list",
    )
    removed = []
    for model in models:
        location = urllib.parse.urlsplit(model.artifact_location)
        if model.status != LoggedModelStatus.READY and location.scheme in ("", "file"):
            folder = pathlib.Path(urllib.parse.unquote(location.path))
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def job_identity(cfg, overrides, parent_run_id):
    """The job's run name and tags: its values of the keys its sweep varies, and its overrides.

    Args:
        cfg: The composed job config.
        overrides: The job's overrides (`HydraConfig.get().overrides.task`).
        parent_run_id: The sweep's parent run, whose `custom_dense.swept_keys`
            tag lists the keys the sweep varies; `None` for a single job. A job
            of a sweep that varies nothing is named as a single job.

    Returns:
        `(run_name, tags)`: the tags are `custom_dense.overrides` and, in a sweep,
        `sweep.<key>` for each swept key.
    """
    swept = ""
    if parent_run_id is not None:
        swept = mlflow.get_run(parent_run_id).data.tags.get(names.SWEPT_KEYS_TAG, "")
    values = names.job_values(overrides, [key for key in swept.split(",") if key])
    tags = {names.OVERRIDES_TAG: " ".join(overrides)}
    if not values:
        return names.single_job_name(cfg.layer.name, overrides), tags
    return names.job_name(values), {**tags, **names.job_tags(values)}


def _installed(distribution):
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True
