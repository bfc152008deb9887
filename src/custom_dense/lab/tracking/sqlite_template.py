"""New SQLite stores as copies of an empty one, so MLflow's schema is built once per version.

MLflow builds a new database's schema by creating its first tables and then
running every migration since (about 1 s). The first new store of an MLflow
version is built that way, in the user's cache folder; later ones copy it.
MLflow then finds every table at its head revision, and adds the Default
experiment with the new store's own artifact location, as for any store.
"""

import os
import pathlib
import shutil

import filelock
import mlflow

_LOCK_TIMEOUT_S = 120.0


def create_store(database):
    """Creates the SQLite database `database` with MLflow's schema and no experiments.

    Args:
        database: A `pathlib.Path` where no file exists yet.

    Returns:
        Whether it was created. `False` when no empty store could be made or
        copied (an unwritable cache folder, say): MLflow then builds the
        schema itself when it first opens the store.
    """
    partial = database.with_name(f".{database.name}.{os.getpid()}.partial")
    try:
        shutil.copyfile(_template(), partial)
        os.replace(partial, database)
    except Exception:  # whatever went wrong, MLflow can still build the schema itself
        partial.unlink(missing_ok=True)
        return False
    return True


def _template():
    """The empty store of this MLflow version, built on first use."""
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    template = cache / "custom-dense" / f"mlflow-{mlflow.__version__}-empty.db"
    template.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(f"{template}.lock", timeout=_LOCK_TIMEOUT_S):
        if not template.exists():
            _build(template)
    return template


def _build(template):
    from mlflow.store.db.utils import _initialize_tables, create_sqlalchemy_engine

    partial = template.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    engine = create_sqlalchemy_engine(f"sqlite:///{partial}")
    try:
        _initialize_tables(engine)
    finally:
        engine.dispose()
    os.replace(partial, template)
