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
import time
from pathlib import Path
from typing import IO

PRIVATE = 0o600
ORPHAN_WAIT_SECONDS = 10.0


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
    deadline = time.monotonic() + ORPHAN_WAIT_SECONDS
    while not _try_lock(handle):
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        # A host that died leaves its worker process to finish the request in hand and
        # exit (it shares the lock): wait a little for that, never for a live host.
        if _alive(holder) or time.monotonic() > deadline:
            handle.close()
            raise DatabaseInUse(
                f"another host process (pid {holder}) is using {path}; SQLite takes one "
                "host process per database file (stop the other one, or run several hosts "
                "on PostgreSQL)"
            )
        time.sleep(0.05)
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _try_lock(handle: IO[str]) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _alive(pid_text: str) -> bool:
    """Whether the process the lock file names still runs (unknown: assume it does)."""
    if not pid_text.isdigit():
        return True
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
