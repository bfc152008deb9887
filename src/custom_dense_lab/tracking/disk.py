"""Full and read-only disks: found in any error (ENOSPC, EDQUOT, EROFS, or SQLite's wrapped
"database or disk is full" and "readonly database") and said in one line with the free space."""

import errno
import os
import pathlib
import shutil
import urllib.parse

import mlflow

from custom_dense_lab.errors import StorageFullError

MIN_FREE_BYTES = 1 << 20  # to start a job: Hydra's job folder, the run's rows, small artifacts


def storage_failure(error):
    """The `StorageFullError` of a full or read-only disk that caused `error`, else `None`."""
    chain = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    for link in chain:  # the write that failed first names the file
        if isinstance(link, OSError) and link.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            return _describe(link.filename2 or link.filename, link.errno == errno.EROFS)
    for link in chain:
        if "database or disk is full" in str(link) or "readonly database" in str(link):
            return _describe(sqlite_store_path(), "readonly database" in str(link))
    return None


def check_free_space():
    """Raises `StorageFullError` where the working folder or a SQLite store's has too little."""
    database = sqlite_store_path()
    for folder in [os.getcwd(), *([database.parent] if database else [])]:
        usage = _usage(folder)
        if usage is not None and usage.free < MIN_FREE_BYTES:
            where = f"{_existing(folder)}: {_space(usage)}"
            raise StorageFullError(f"no space left to start a job in {where}")


def write_problem(path):
    """Why this process cannot write in the folder `path` (or its closest existing folder), or
    `None`; /proc and /sys, where root may "write", count as unwritable."""
    folder = _existing(path)
    pseudo = folder.parts[:2] in (("/", "proc"), ("/", "sys"))
    if not pseudo and folder.is_dir() and os.access(folder, os.W_OK | os.X_OK):
        return None
    read_only = folder.is_dir() and os.statvfs(folder).f_flag & os.ST_RDONLY
    return f"{folder} is {'on a read-only file system' if read_only else 'not writable here'}"


def sqlite_store_path():
    return sqlite_path(mlflow.get_tracking_uri())


def sqlite_path(uri):
    """The absolute database file of a `sqlite:///` (or `sqlite+driver:///`) URI, else `None`."""
    if urllib.parse.urlsplit(uri).scheme.partition("+")[0] != "sqlite":
        return None
    path = uri.partition(":///")[2]
    return None if path in ("", ":memory:") else pathlib.Path(path).expanduser().resolve()


def _describe(path, read_only):
    what = "read-only file system" if read_only else "no space left on device"
    usage = None if read_only else _usage(path or os.getcwd())
    where = f" writing {path}" if path else ""
    return StorageFullError(f"{what}{where}{f': {_space(usage)}' if usage else ''}")


def _usage(path):
    try:
        return shutil.disk_usage(_existing(path))
    except OSError:
        return None


def _existing(path):
    path = pathlib.Path(path).resolve()
    return next((folder for folder in (path, *path.parents) if folder.exists()), path)


def _space(usage):
    return f"{_size(usage.free)} free of {_size(usage.total)}"


def _size(count):
    if count < 1024:
        return f"{count} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        count /= 1024
        if count < 1024 or unit == "TiB":
            return f"{count:.1f} {unit}"
