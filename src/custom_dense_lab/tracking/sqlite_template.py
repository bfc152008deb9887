"""New SQLite stores as copies of an empty one that MLflow built once per schema, kept in the
user's cache folder and checked by its SHA-256 before every copy (docs/scaling-out.md)."""

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

_MIGRATIONS = pathlib.Path(mlflow.__file__).parent / "store" / "db_migrations" / "versions"


def create_store(database):
    """Creates the missing SQLite file `database` as a copy of the empty store; where none can be
    built or copied (an unwritable cache folder, say), nothing: MLflow builds the schema."""
    partial = database.with_name(f".{database.name}.{socket.gethostname()}.{os.getpid()}.partial")
    try:
        shutil.copyfile(_template(), partial)
        os.replace(partial, database)
    except Exception:
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
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    migrations = " ".join(sorted(path.name for path in _MIGRATIONS.glob("*.py")))
    schema = hashlib.sha256(migrations.encode()).hexdigest()[:12]
    template = cache / "custom-dense" / f"mlflow-{mlflow.__version__}-{schema}-empty.db"
    if template_problem(template) is None:
        return template
    template.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(f"{template}.lock", timeout=120):
        problem = template_problem(template)
        if problem is not None and template.exists():
            print(
                f"custom-dense: building the empty-store template again: {problem}", file=sys.stderr
            )
        if problem is not None:
            _build(template)
    return template


def _build(template):
    with tempfile.TemporaryDirectory(dir=template.parent) as folder:
        partial = pathlib.Path(folder, template.name)  # new: MLflow keeps a store per URI
        mlflow.MlflowClient(tracking_uri=f"sqlite:///{partial}").search_experiments(max_results=1)
        with contextlib.closing(sqlite3.connect(partial)) as db, db:
            db.execute("DELETE FROM experiments")  # a copy's MLflow adds a Default of its own
        _digest_file(partial).write_text(hashlib.sha256(partial.read_bytes()).hexdigest())
        os.replace(partial, template)
        os.replace(_digest_file(partial), _digest_file(template))


def _digest_file(template):
    return template.with_name(f"{template.name}.sha256")
