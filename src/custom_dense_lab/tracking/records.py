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
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from omegaconf import OmegaConf

import custom_dense_lab
from custom_dense_lab.tracking import custom_dense_pyfunc, names, registry


def config_params(cfg):
    """The resolved config as MLflow params, `{"model.units": 64, ...}`, without `_target_` keys."""
    container = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    flat = pd.json_normalize(container, sep=".").iloc[0].to_dict()
    return {key: value for key, value in flat.items() if not key.endswith("._target_")}


def environment_tags(layer, placement, device_kind):
    """Tags that say what ran where: the layer, the device, the versions and the lab's commit."""
    commit, dirty = git_state(pathlib.Path(custom_dense_lab.__file__).parent)
    backend = keras.config.backend()
    tags = {"layer_impl": layer, "device": device_kind, "device_name": placement.name}
    tags |= {"keras_backend": backend, "keras_version": keras.__version__}
    tags |= {"tf_version": tf.__version__, "git_commit": commit, "git_dirty": dirty}
    if backend != "tensorflow":
        tags[f"{backend}_version"] = importlib.metadata.version(backend)
    return tags


@functools.cache
def git_state(folder):
    """`(commit, "true" or "false")` of the repository holding `folder`, else "unknown" twice."""
    try:
        repository = git.Repo(folder, search_parent_directories=True)
        return repository.head.commit.hexsha, str(repository.is_dirty()).lower()
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
        return "unknown", "unknown"


def log_job_artifacts(cfg, overrides, model):
    mlflow.log_text(OmegaConf.to_yaml(cfg, resolve=True), "config.yaml")
    mlflow.log_text(OmegaConf.to_yaml(list(overrides)), "overrides.yaml")
    lines = []
    model.summary(print_fn=lambda line, **_: lines.append(line))
    mlflow.log_text("\n".join(lines), "model_summary.txt")


def model_name(cfg):
    """Layer, width, depth, activation, quantization: `custom-u64-d2-relu`, `stock-u64-d2-int8`."""
    quantize = [cfg.quantize.value] if cfg.quantize is not None else []
    parts = [cfg.layer.name, f"u{cfg.model.units}", f"d{cfg.model.depth}", cfg.model.activation]
    return registry.mlflow_name("-".join([*parts, *quantize]))


def log_model(model, cfg, sample_inputs, sample_outputs, step, tags):
    """Logs a Keras model as `model_name(cfg)` with the metrics of `step`, `tags` and its sweep's
    id and name; its requirements given, since MLflow infers them in a process of its own."""
    version, packages = importlib.metadata.version, ("keras", "numpy", "mlflow")
    try:
        tensorflow = f"tensorflow-cpu=={version('tensorflow-cpu')}"
    except importlib.metadata.PackageNotFoundError:
        tensorflow = f"tensorflow=={version('tensorflow')}"
    parent = mlflow.active_run().data.tags.get(MLFLOW_PARENT_RUN_ID)
    if parent is not None:
        tags = {**tags, "sweep_run_id": parent, "sweep_name": mlflow.get_run(parent).info.run_name}
    return Model.log(
        artifact_path=None,
        name=model_name(cfg),
        flavor=custom_dense_pyfunc,
        flavor_name="keras",
        keras_model=model,
        signature=infer_signature(sample_inputs, sample_outputs),
        pip_requirements=[tensorflow, *(f"{name}=={version(name)}" for name in packages)],
        step=step,
        tags=tags,
    )


def remove_unfinished_models(run_id):
    """Deletes the local folders of the run's models that never became READY (a full disk)."""
    for model in registry.logged_models(run_id):
        location = urllib.parse.urlsplit(model.artifact_location)
        if model.status != LoggedModelStatus.READY and location.scheme in ("", "file"):
            shutil.rmtree(urllib.parse.unquote(location.path), ignore_errors=True)


def job_identity(cfg, overrides, parent_run_id):
    """`(run_name, tags)` of a job: named and tagged `sweep.<key>` by its values of its sweep's keys."""
    parent = mlflow.get_run(parent_run_id).data.tags if parent_run_id is not None else {}
    swept = [key for key in parent.get(names.SWEPT_KEYS_TAG, "").split(",") if key]
    values = names.job_values(overrides, swept)
    tags = {names.OVERRIDES_TAG: " ".join(overrides)}
    if not values:
        return names.job_name({"layer": cfg.layer.name} | names.job_values(overrides)), tags
    return names.job_name(values), tags | {f"sweep.{key}": value for key, value in values.items()}
