"""The SQLite file itself: private to its owner, and used by one host process at a time.

The database holds event data (people's emails, traits), so it is created mode 0600
(SQLite gives its -wal and -shm files the database's mode). A lock file beside it
(`<db>.lock`, an exclusive `flock` held for the store's life) makes a second host
process on the same file refuse to start instead of delivering everything twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import IO

PRIVATE = 0o600


class DatabaseInUse(RuntimeError):
    """Another host process holds this database."""


def is_file_database(path: str) -> bool:
    return path != ":memory:" and not path.startswith("file:")


def make_private(path: str) -> None:
    """Create the file 0600 if it is new; tighten it (and -wal/-shm) if it exists."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE)
    os.close(descriptor)
    for name in (path, path + "-wal", path + "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(name, PRIVATE)


def hold_lock(path: str) -> IO[str]:
    """Take the database's lock for as long as the returned file stays open."""
    lock_path = Path(path + ".lock")
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, PRIVATE)
    handle = os.fdopen(descriptor, "r+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise DatabaseInUse(
            f"another host process (pid {holder}) is using {path}; SQLite takes one host "
            "process per database file (stop the other one, or run several hosts on "
            "PostgreSQL)"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
