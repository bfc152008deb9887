"""Full and read-only disks: recognised in any error, and said in one line with the free space.

A full disk reaches a job as an `OSError` (ENOSPC) from an artifact write, as
SQLite's "database or disk is full" wrapped by SQLAlchemy and MLflow, or from
Hydra as it writes a job's folder; a disk that turned read-only, as EROFS or
SQLite's "attempt to write a readonly database".
"""

import errno
import os
import pathlib
import shutil
import urllib.parse

import mlflow

from custom_dense_lab.errors import StorageFullError

_OS_ERRNOS = {errno.ENOSPC: "no space left", errno.EDQUOT: "disk quota exceeded"}
_READ_ONLY_ERRNOS = {errno.EROFS}
_SQLITE_FULL = "database or disk is full"
_SQLITE_READ_ONLY = "readonly database"
# What a program needs free to start a job: Hydra's job folder, the run's rows, small artifacts.
MIN_FREE_BYTES = 1 << 20


def storage_failure(error):
    """The `StorageFullError` behind `error` when a full or read-only disk caused it, else `None`.

    Args:
        error: An exception, with its `__cause__` and `__context__` chain.

    Returns:
        A `StorageFullError` whose message names the path, the problem and the
        free space, e.g. "no space left on device writing /data/mlruns/...:
        0 B free of 3.0 MiB", or `None`.
    """
    chain = list(_chain(error))
    for link in chain:  # the write that failed first names the file
        if isinstance(link, OSError) and link.errno in {*_OS_ERRNOS, *_READ_ONLY_ERRNOS}:
            path = link.filename2 or link.filename
            return _describe(path, read_only=link.errno in _READ_ONLY_ERRNOS)
    for link in chain:
        message = str(link)
        if _SQLITE_FULL in message or _SQLITE_READ_ONLY in message:
            return _describe(sqlite_store_path(), read_only=_SQLITE_READ_ONLY in message)
    return None


def check_free_space():
    """Raises `StorageFullError` when a folder a job writes to has less than `MIN_FREE_BYTES` free.

    A job writes to the working folder (outputs, artifacts) and, with a SQLite
    tracking store, to the database's folder.
    """
    database = sqlite_store_path()
    folders = [os.getcwd()] if database is None else [os.getcwd(), database.parent]
    for folder in folders:
        usage = _usage(folder)
        if usage is not None and usage.free < MIN_FREE_BYTES:
            raise StorageFullError(
                f"no space left to start a job in {_existing(folder)}: {_space(usage)}"
            )


def sqlite_store_path():
    """The SQLite file of the current tracking store, or `None` for other stores."""
    return sqlite_path(mlflow.get_tracking_uri())


def sqlite_path(uri):
    """The database file of a SQLite tracking URI (`sqlite:///`, `sqlite+pysqlite:///`, ...).

    Returns:
        An absolute path, or `None` for an in-memory database or a store that
        is not SQLite.
    """
    if urllib.parse.urlsplit(uri).scheme.partition("+")[0] != "sqlite":
        return None
    path = uri.partition(":///")[2]
    return None if path in ("", ":memory:") else pathlib.Path(path).expanduser().resolve()


def _describe(path, read_only):
    where = f" writing {path}" if path else ""
    if read_only:
        return StorageFullError(f"read-only file system{where}")
    usage = _usage(path or os.getcwd())
    space = f": {_space(usage)}" if usage else ""
    return StorageFullError(f"no space left on device{where}{space}")


def _chain(error):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _usage(path):
    try:
        return shutil.disk_usage(_existing(path))
    except OSError:
        return None


def _existing(path):
    """`path`, or its closest folder that exists."""
    path = pathlib.Path(path).resolve()
    return next((folder for folder in (path, *path.parents) if folder.exists()), path)


def _space(usage):
    return f"{_size(usage.free)} free of {_size(usage.total)}"


def _size(count):
    value, unit = float(count), "B"
    for larger in ("KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, larger
    return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
