"""Which worker delivers which integration, when many share one database (SPEC 11).

One lease per integration: the worker holding it is the only one that walks the
integration's pending deliveries through the lane barrier and sends them, so order
per lane holds across workers exactly as it holds in one (the walk and the send are
never done by two at once). Other integrations go to other workers in parallel.

- *Who tries.* Live workers (each beats in the registry) agree on one preferred
  worker per integration (rendezvous hashing with bounded loads: no worker is
  preferred for more than its share, rounded up); only it claims the lease. A new
  worker takes its share at its first beat; a dead one's share passes on once its
  beat and its leases run out.
- *Holding.* The lease is renewed at each round and every third of its length while
  requests are out; a worker that cannot renew in time cancels its own sends before
  its lease can expire (it measures from before it asked, so its own view ends
  first), and every write that settles a round is fenced by the lease's token.
- *Dying.* Nothing is lost: the deliveries of a killed worker are still pending rows
  (marked with who claimed them); the next holder sends them again, with the same
  dedup ids, and notes the takeover in their history.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import socket
import time
from collections.abc import Awaitable
from typing import TypeVar

import structlog

from .store_api import HostStore, Lease, LeaseLost

DEFAULT_LEASE_SECONDS = 30.0

T = TypeVar("T")
_log = structlog.get_logger("signal_dest_cio.host", component="leases")


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _rank(integration_id: str, workers: list[str]) -> list[str]:
    return sorted(
        workers,
        key=lambda w: hashlib.sha256(f"{integration_id}\n{w}".encode()).digest(),
        reverse=True,
    )


def preferred_worker(integration_id: str, workers: list[str]) -> str:
    """Rendezvous hashing: every worker computes the same answer from the same list."""
    return _rank(integration_id, workers)[0]


def assignment(integrations: list[str], workers: list[str]) -> dict[str, str]:
    """Each integration's worker: its highest-ranked one that has not yet its share
    (`ceil(integrations / workers)`). The same on every worker given the same lists;
    plain rendezvous may give one of 4 workers 4 of 8 integrations, and a backlog then
    lasts as long as that one worker needs."""
    if not workers:
        return {}
    share = -(-len(integrations) // len(workers))
    load = dict.fromkeys(workers, 0)
    chosen: dict[str, str] = {}
    for integration_id in sorted(integrations):
        for worker in _rank(integration_id, workers):
            if load[worker] < share:
                chosen[integration_id] = worker
                load[worker] += 1
                break
    return chosen


class Leases:
    """This worker's integration leases and its place in the registry."""

    def __init__(self, store: HostStore, owner: str, seconds: float) -> None:
        self.store = store
        self.owner = owner
        self.seconds = seconds
        self._held: dict[str, Lease] = {}
        self._deadline: dict[str, float] = {}  # local monotonic time each lease surely ends
        self._live: list[str] = [owner]
        self._assigned: dict[str, str] = {}

    def beat(self, integrations: list[str]) -> None:
        """Say this worker is alive, learn who else is, and share out `integrations`."""
        self.store.heartbeat(self.owner, self.seconds)
        live = self.store.live_workers()
        self._live = live if self.owner in live else sorted([*live, self.owner])
        self._assigned = assignment(integrations, self._live)

    def preferred(self, integration_id: str) -> bool:
        found = self._assigned.get(integration_id)  # one that came after the last beat:
        if found is None:  # plain rendezvous until the next
            found = preferred_worker(integration_id, self._live)
        return found == self.owner

    def acquire(self, integration_id: str) -> Lease | None:
        """The integration's lease, renewed or newly claimed; None: not ours now."""
        if not self.preferred(integration_id):
            self.release(integration_id)
            return None
        started = time.monotonic()
        held = self._held.get(integration_id)
        if held is not None and self.store.renew_lease(held, self.seconds):
            self._deadline[integration_id] = started + self.seconds
            return held
        lease = self.store.claim_lease(integration_id, self.owner, self.seconds)
        if lease is None:
            self._held.pop(integration_id, None)
            return None
        self._held[integration_id] = lease
        self._deadline[integration_id] = started + self.seconds
        return lease

    def lost(self, integration_id: str) -> None:
        self._held.pop(integration_id, None)

    def release(self, integration_id: str) -> None:
        held = self._held.pop(integration_id, None)
        if held is not None:
            with contextlib.suppress(Exception):
                self.store.release_lease(held)

    def release_all(self) -> None:
        for integration_id in list(self._held):
            self.release(integration_id)
        with contextlib.suppress(Exception):
            self.store.forget_worker(self.owner)

    async def guard(self, lease: Lease, work: Awaitable[T]) -> T:
        """Await `work` while keeping the lease; cancel it (and raise `LeaseLost`) if the
        lease is not renewed before this worker's own view of it runs out, whether the
        renewal was refused or the database did not answer in time."""
        task = asyncio.ensure_future(work)
        period = self.seconds / 3
        margin = self.seconds / 4
        try:
            while True:
                deadline = self._deadline.get(lease.integration_id, 0.0) - margin
                timeout = max(min(period, deadline - time.monotonic()), 0.0)
                await asyncio.wait({task}, timeout=timeout)
                if task.done():
                    return task.result()
                started = time.monotonic()
                if started < deadline and await self._renewed(lease, deadline - started):
                    self._deadline[lease.integration_id] = started + self.seconds
                    continue
                _log.warning("lease lost while sending", integration=lease.integration_id)
                self.lost(lease.integration_id)
                raise LeaseLost(lease.integration_id)
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def _renewed(self, lease: Lease, within: float) -> bool:
        renewal = asyncio.ensure_future(
            asyncio.to_thread(self.store.renew_lease, lease, self.seconds)
        )
        try:
            return await asyncio.wait_for(asyncio.shield(renewal), timeout=within)
        except TimeoutError:
            return False
        except Exception:
            _log.exception("could not renew a lease", integration=lease.integration_id)
            return False
