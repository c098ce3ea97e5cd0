"""Leases and the worker registry where one process is the only one (the SQLite store).

The file lock (`dbfile.py`) already makes this process the only host on the database,
so leases live in memory: they keep the same contract as PostgreSQL's (a token that
grows per holder, expiry, fencing) for the one worker there is.
"""

from __future__ import annotations

import threading
import time

from .store_api import Lease, LeaseLost


class LocalLeases:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._leases: dict[str, Lease] = {}
        self._tokens = 0
        self._workers: dict[str, float] = {}

    def claim(self, integration_id: str, owner: str, seconds: float) -> Lease | None:
        now = time.time()
        with self._lock:
            held = self._leases.get(integration_id)
            if held is not None and held.owner != owner and held.expires_at > now:
                return None
            if held is not None and held.owner == owner:
                held.expires_at = now + seconds
                return Lease(integration_id, owner, held.token, held.expires_at)
            self._tokens += 1
            lease = Lease(integration_id, owner, self._tokens, now + seconds)
            self._leases[integration_id] = lease
            return Lease(integration_id, owner, lease.token, lease.expires_at)

    def renew(self, lease: Lease, seconds: float) -> bool:
        with self._lock:
            held = self._leases.get(lease.integration_id)
            if held is None or held.token != lease.token:
                return False
            held.expires_at = lease.expires_at = time.time() + seconds
            return True

    def release(self, lease: Lease) -> None:
        with self._lock:
            held = self._leases.get(lease.integration_id)
            if held is not None and held.token == lease.token:
                del self._leases[lease.integration_id]

    def check(self, lease: Lease | None) -> None:
        """Raise `LeaseLost` unless `lease` is still the integration's (None: unfenced)."""
        if lease is None:
            return
        with self._lock:
            held = self._leases.get(lease.integration_id)
            if held is None or held.token != lease.token:
                raise LeaseLost(lease.integration_id)

    def heartbeat(self, owner: str, seconds: float) -> None:
        with self._lock:
            self._workers[owner] = time.time() + seconds

    def live_workers(self) -> list[str]:
        now = time.time()
        with self._lock:
            return sorted(w for w, until in self._workers.items() if until > now)

    def forget(self, owner: str) -> None:
        with self._lock:
            self._workers.pop(owner, None)
