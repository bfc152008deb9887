"""New SQLite stores as copies of an empty one that MLflow built once per schema, in the user's
cache folder, checked by its SHA-256 before every copy (docs/architecture.md)."""

import contextlib
import hashlib
import os
import pathlib
import shutil
import socket
import sqlite3
import sys
import tempfile

import filelock
import mlflow

_LOCK_TIMEOUT_S = 120.0
_MIGRATIONS = pathlib.Path(mlflow.__file__).parent / "store" / "db_migrations" / "versions"


def create_store(database):
    """Creates the missing SQLite file `database` as a copy of the empty store; where none can be
    built or copied (an unwritable cache folder, say), nothing: MLflow builds the schema."""
    partial = database.with_name(f".{database.name}.{socket.gethostname()}.{os.getpid()}.partial")
    try:
        shutil.copyfile(_template(), partial)
        os.replace(partial, database)
    except Exception:  # whatever went wrong, MLflow can still build the schema itself
        partial.unlink(missing_ok=True)


def template_problem(template):
    """What makes `template` unfit to copy; `None` when it is the empty store built here."""
    digest = _digest_file(template)
    if not template.is_file() or not digest.is_file():
        return f"{template} is missing"
    if digest.read_text() != hashlib.sha256(template.read_bytes()).hexdigest():
        return f"{template} changed since it was built"
    return None


def _template():
    """The empty store of this MLflow's schema, built again, saying so, where missing or changed."""
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    migrations = " ".join(sorted(path.name for path in _MIGRATIONS.glob("*.py")))
    schema = hashlib.sha256(migrations.encode()).hexdigest()[:12]
    template = cache / "custom-dense" / f"mlflow-{mlflow.__version__}-{schema}-empty.db"
    if template_problem(template) is None:
        return template
    template.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(f"{template}.lock", timeout=_LOCK_TIMEOUT_S):
        problem = template_problem(template)
        if problem is None:  # another process built it meanwhile
            return template
        if template.exists():
            print(
                f"custom-dense: building the empty-store template again: {problem}", file=sys.stderr
            )
        _build(template)
    return template


def _build(template):
    # A new file each time: MLflow keeps the store of each URI it opened for the process.
    with tempfile.TemporaryDirectory(dir=template.parent) as folder:
        partial = pathlib.Path(folder, template.name)
        mlflow.MlflowClient(tracking_uri=f"sqlite:///{partial}").search_experiments(max_results=1)
        with contextlib.closing(sqlite3.connect(partial)) as db, db:
            # The Default experiment: a copy's MLflow adds one whose artifacts go beside it.
            db.execute("DELETE FROM experiments")
        _digest_file(partial).write_text(hashlib.sha256(partial.read_bytes()).hexdigest())
        os.replace(partial, template)
        os.replace(_digest_file(partial), _digest_file(template))


def _digest_file(template):
    return template.with_name(f"{template.name}.sha256")
