"""New SQLite stores as copies of an empty one, so MLflow's schema is built once per version.

MLflow builds a new database's schema by creating its first tables and then
running every migration since (about 1 s). The first new store of an MLflow
schema (its version and migrations) is built that way, in the user's cache
folder; later ones copy it. MLflow then finds every table at its head
revision, and adds the Default experiment with the new store's own artifact
location, as for any store.
"""

import hashlib
import os
import pathlib
import shutil
import socket

import filelock
import mlflow

_LOCK_TIMEOUT_S = 120.0


def create_store(database):
    """Creates the SQLite database `database` with MLflow's schema and no experiments.

    When no empty store can be made or copied (an unwritable cache folder,
    say), nothing is created: MLflow then builds the schema itself when it
    first opens the store.

    Args:
        database: A `pathlib.Path` where no file exists yet.
    """
    partial = database.with_name(f".{database.name}.{socket.gethostname()}.{os.getpid()}.partial")
    try:
        shutil.copyfile(_template(), partial)
        os.replace(partial, database)
    except Exception:  # whatever went wrong, MLflow can still build the schema itself
        partial.unlink(missing_ok=True)


def _template():
    """The empty store of this MLflow's schema, built on first use."""
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    template = cache / "custom-dense" / f"mlflow-{_schema_fingerprint()}-empty.db"
    if not template.exists():
        template.parent.mkdir(parents=True, exist_ok=True)
        with filelock.FileLock(f"{template}.lock", timeout=_LOCK_TIMEOUT_S):
            if not template.exists():
                _build(template)
    return template


def _schema_fingerprint():
    """MLflow's version and a hash of its migration scripts' names: one per schema."""
    migrations = pathlib.Path(mlflow.__file__).parent / "store" / "db_migrations" / "versions"
    names = sorted(path.name for path in migrations.glob("*.py"))
    return f"{mlflow.__version__}-{hashlib.sha256(' '.join(names).encode()).hexdigest()[:12]}"


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
