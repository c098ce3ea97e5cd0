"""The delivery worker in a process of its own, so delivery never competes with the API.

A worker thread in the server's process shares its GIL: while the worker maps and
encodes a batch of a thousand events, every store call ingestion makes gives the GIL
up and waits to get it back, and ingestion latency grows with the batch size (bench
section 7). `WorkerProcess` runs the same `DeliveryWorker` in a child process on the
same database instead, started and stopped with the host.

The parent talks to the child over the child's stdin: the settings as one JSON line
first (with the secret key when one was given: never on the command line, where
`ps` shows it), then a byte per wake ("look for work now"). End of file means stop:
the parent closed it, or died (kill -9 included), and the child shuts down, releasing
its leases. A SQLite host holds its database's file lock; the child inherits that
lock's open file, so the lock is held until both have exited and no second host can
start on the file while an orphaned child is still finishing a request.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from dataclasses import asdict
from typing import Any

import structlog

from .backoff import RetryPolicy

STOP_SECONDS = 30.0
RESTART_SECONDS = 1.0
MAX_RESTART_SECONDS = 30.0
_WAKE = b"w"
_log = structlog.get_logger("signal_dest_cio.host", component="worker-process")


class WorkerProcess:
    """The parent's handle: start, wake, stop; a worker process that dies is started again."""

    def __init__(self, settings: dict[str, Any], lock_fd: int | None = None) -> None:
        self.settings = settings
        self.lock_fd = lock_fd
        self.restarts = 0
        self._child: subprocess.Popen[bytes] | None = None
        self._wake_fd: int | None = None
        self._stopping = threading.Event()
        self._guard = threading.Lock()
        self._monitor: threading.Thread | None = None

    def start(self) -> None:
        with self._guard:
            if self._monitor is not None:
                return
            self._stopping.clear()
            self._spawn()
            self._monitor = threading.Thread(
                target=self._watch, name="signal-worker-process", daemon=True
            )
            self._monitor.start()

    def _spawn(self) -> None:
        child = subprocess.Popen(
            [sys.executable, "-m", "signal_dest_cio.host.worker_child"],
            stdin=subprocess.PIPE,
            pass_fds=() if self.lock_fd is None else (self.lock_fd,),
        )
        assert child.stdin is not None
        child.stdin.write(json.dumps({**self.settings, "lock_fd": self.lock_fd}).encode() + b"\n")
        child.stdin.flush()
        # Wakes never block ingestion: when the pipe is full a wake is pending anyway.
        os.set_blocking(child.stdin.fileno(), False)
        self._child, self._wake_fd = child, child.stdin.fileno()

    def _watch(self) -> None:
        """Wait on the child; one that exits unasked is logged and started again."""
        delay = RESTART_SECONDS
        while True:
            child = self._child
            assert child is not None
            code = child.wait()
            if self._stopping.is_set():
                return
            _log.error("the worker process exited; starting it again", code=code, pid=child.pid)
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, MAX_RESTART_SECONDS)
            with self._guard:
                if self._stopping.is_set():
                    return
                self._close_pipe(child)
                self._spawn()
                self.restarts += 1

    def wake(self) -> None:
        """Thread-safe, never blocks: a byte the child reads as "look for work now"."""
        with self._guard:
            if self._wake_fd is None:
                return
            with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError):
                os.write(self._wake_fd, _WAKE)

    def stop(self) -> None:
        """Close its stdin (it stops: leases released, clients closed) and wait for it."""
        with self._guard:
            self._stopping.set()
            child, monitor = self._child, self._monitor
            if child is not None:
                self._close_pipe(child)
        if child is not None:
            try:
                child.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                _log.warning("the worker process did not stop in time; killed it", pid=child.pid)
                child.kill()
                child.wait()
        if monitor is not None:
            monitor.join()
        self._child = self._monitor = None

    def _close_pipe(self, child: subprocess.Popen[bytes]) -> None:
        self._wake_fd = None
        if child.stdin is not None:
            with contextlib.suppress(OSError):
                child.stdin.close()

    @property
    def pid(self) -> int | None:
        return None if self._child is None else self._child.pid


def settings_for(
    *,
    db: str,
    secret_key: str | None,
    policy: RetryPolicy,
    batch_size: int,
    poll_seconds: float,
    lease_seconds: float,
) -> dict[str, Any]:
    return {
        "db": db,
        "secret_key": secret_key,
        "policy": asdict(policy),
        "batch_size": batch_size,
        "poll_seconds": poll_seconds,
        "lease_seconds": lease_seconds,
    }
