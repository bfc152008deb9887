"""New SQLite stores as copies of an empty one, so that MLflow builds its schema once per version.

MLflow builds a new database by running every migration since its first (1.1 s; a copy
takes 0.04 s). The empty store is one MLflow built, in the user's cache folder, with its
Default experiment taken out: opening a copy, MLflow adds one whose artifacts go beside the
new store. Its SHA-256 is kept beside it and checked before every copy; a file that differs
is built again, with one line saying so.
"""

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
    """Creates the missing SQLite file `database` as a copy of the empty store.

    Where no empty store can be built or copied (an unwritable cache folder, say), it
    creates nothing, and MLflow builds the schema itself.
    """
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
    """The empty store of this MLflow's schema, built where missing or changed."""
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
            db.execute("DELETE FROM experiments")  # the Default one, with this folder's artifacts
        _digest_file(partial).write_text(hashlib.sha256(partial.read_bytes()).hexdigest())
        os.replace(partial, template)
        os.replace(_digest_file(partial), _digest_file(template))


def _digest_file(template):
    return template.with_name(f"{template.name}.sha256")
