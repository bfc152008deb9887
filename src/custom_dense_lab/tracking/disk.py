"""Full and read-only disks: found in any error (ENOSPC, EDQUOT, EROFS, or SQLite's wrapped
"database or disk is full" and "readonly database") and said in one line with the free space."""

import errno
import os
import pathlib
import shutil
import urllib.parse

import mlflow

from custom_dense_lab.errors import StorageFullError


def storage_failure(error):
    """The `StorageFullError` of a full or read-only disk that caused `error`, else `None`."""
    chain = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    # The write that failed first names the file; SQLite's own messages name none.
    for link in sorted(chain, key=lambda link: not isinstance(link, OSError)):
        if isinstance(link, OSError) and link.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            path, read_only = link.filename2 or link.filename, link.errno == errno.EROFS
        elif "database or disk is full" in str(link) or "readonly database" in str(link):
            path = sqlite_path(mlflow.get_tracking_uri())
            read_only = "readonly database" in str(link)
        else:
            continue
        what = "read-only file system" if read_only else "no space left on device"
        where = f" writing {path}" if path else ""
        space = "" if read_only else f": {_space(path or os.getcwd())}"
        return StorageFullError(f"{what}{where}{space}")
    return None


def check_free_space():
    """Raises `StorageFullError` where the working folder or a SQLite store's has under 1 MiB."""
    database = sqlite_path(mlflow.get_tracking_uri())
    for folder in [os.getcwd(), *([database.parent] if database else [])]:
        if shutil.disk_usage(_existing(folder)).free < 1 << 20:
            where = f"{_existing(folder)}: {_space(folder)}"
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


def sqlite_path(uri):
    """The absolute database file of a `sqlite:///` (or `sqlite+driver:///`) URI, else `None`."""
    if urllib.parse.urlsplit(uri).scheme.partition("+")[0] != "sqlite":
        return None
    path = uri.partition(":///")[2]
    return None if path in ("", ":memory:") else pathlib.Path(path).expanduser().resolve()


def _existing(path):
    path = pathlib.Path(path).resolve()
    return next((folder for folder in (path, *path.parents) if folder.exists()), path)


def _space(path):
    def size(count):
        power = min(4, (max(count, 1).bit_length() - 1) // 10)
        return f"{count} B" if power == 0 else f"{count / 1024**power:.1f} {'KMGT'[power - 1]}iB"

    usage = shutil.disk_usage(_existing(path))
    return f"{size(usage.free)} free of {size(usage.total)}"
