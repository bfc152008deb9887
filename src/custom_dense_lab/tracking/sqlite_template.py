"""New SQLite stores as copies of an empty one, so MLflow's schema is built once per version.

MLflow builds a new database's schema by creating its first tables and then
running every migration since (about 1 s). The first new store of an MLflow
schema (its version and migrations) is built that way, in the user's cache
folder; later ones copy it. MLflow then finds every table at its head
revision, and adds the Default experiment with the new store's own artifact
location, as for any store.

The cached file is checked before every copy (`template_problem`): an intact
SQLite file, MLflow's tables and no others, at the head revision of MLflow's
migrations, with no experiment and no run. A template that fails is built
again, with one line saying so; one that cannot be built leaves the new store
to MLflow, which builds it as it would without a template.
"""

import contextlib
import functools
import hashlib
import importlib
import os
import pathlib
import shutil
import socket
import sqlite3
import sys

import filelock
import mlflow
from alembic.script import ScriptDirectory

_LOCK_TIMEOUT_S = 120.0
_MIGRATIONS = pathlib.Path(mlflow.__file__).parent / "store" / "db_migrations"


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
    """The empty store of this MLflow's schema, built on first use and rebuilt when it fails its check."""
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    template = cache / "custom-dense" / f"mlflow-{_schema_fingerprint()}-empty.db"
    if template.exists() and template_problem(template) is None:
        return template
    template.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(f"{template}.lock", timeout=_LOCK_TIMEOUT_S):
        if template.exists():
            problem = template_problem(template)
            if problem is None:  # another process built it meanwhile
                return template
            print(
                f"custom-dense: building the empty-store template again: {problem}", file=sys.stderr
            )
        _build(template)
    problem = template_problem(template)
    if problem:
        raise RuntimeError(problem)
    return template


def template_problem(template):
    """What makes `template` unfit to copy as a new store; `None` when it is fit.

    Args:
        template: A `pathlib.Path` to the cached empty store.
    """
    try:
        with contextlib.closing(sqlite3.connect(f"{template.as_uri()}?mode=ro", uri=True)) as db:
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                return f"{template} is damaged"
            tables = {
                name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            foreign = sorted(tables - _mlflow_tables() - {"sqlite_sequence"})
            if foreign:
                return f"{template} holds tables MLflow does not have: {', '.join(foreign)}"
            revisions = [v for (v,) in db.execute("SELECT version_num FROM alembic_version")]
            head = _schema_head()
            if revisions != [head]:
                return (
                    f"{template} is at schema {', '.join(revisions) or 'none'}, not MLflow's {head}"
                )
            for table in ("experiments", "runs"):
                if db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]:
                    return f"{template} holds {table}: it is not an empty store"
    except sqlite3.DatabaseError as error:
        return f"{template} is not a store MLflow built ({error})"
    return None


def _mlflow_tables():
    """The tables of MLflow's database models (tracking, registry, workspaces...) and alembic's."""
    store = pathlib.Path(mlflow.__file__).parent / "store"
    for models in store.glob("*/dbmodels/models.py"):
        importlib.import_module(f"mlflow.store.{models.parent.parent.name}.dbmodels.models")
    from mlflow.store.db.base_sql_model import Base

    return {*Base.metadata.tables, "alembic_version"}


@functools.cache
def _schema_head():
    """The head revision of MLflow's schema migrations, as alembic reads them."""
    return ScriptDirectory(str(_MIGRATIONS)).get_current_head()


def _schema_fingerprint():
    """MLflow's version and a hash of its migration scripts' names: one per schema."""
    names = sorted(path.name for path in (_MIGRATIONS / "versions").glob("*.py"))
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
