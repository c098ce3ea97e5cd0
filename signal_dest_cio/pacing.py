"""Requests per workspace stay under `max_requests_per_second`, across every client in
the process; a wait that is cancelled gives its slot back."""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Callable
from typing import Protocol

from .config import CustomerIoConfig


class Pacer(Protocol):
    """Anything that waits until the next request may start."""

    async def wait(self) -> None: ...


# A host that runs many processes supplies one of these (workspace key, requests per
# second) -> pacer, to share the budget between them; without one, `RequestPacer`.
PacerFactory = Callable[[str, float], Pacer]


class RequestPacer:
    """Spaces request starts at least 1/rate seconds apart, so no second holds more than rate.

    No lock is needed: taking a slot never awaits, and asyncio runs one task at a time.
    A waiter that is cancelled (its `deliver()` was cancelled) returns its slot, and
    the next waiter takes the earliest returned slot that has not passed, so a
    cancelled burst leaves nothing reserved.
    """

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self._next_slot = 0.0
        self._returned: list[float] = []  # slots given back, not yet reused, sorted

    async def wait(self) -> None:
        now = time.monotonic()
        while self._returned and self._returned[0] < now:
            self._returned.pop(0)  # passed: no one can use it any more
        if self._returned:
            slot = self._returned.pop(0)
        else:
            slot = max(now, self._next_slot)
            self._next_slot = slot + self.interval
        if slot > now:
            try:
                await asyncio.sleep(slot - now)
            except asyncio.CancelledError:
                self._give_back(slot)
                raise

    def _give_back(self, slot: float) -> None:
        bisect.insort(self._returned, slot)
        # The latest slots handed out, once all returned, are simply not reserved any more.
        while self._returned and self._returned[-1] + self.interval == self._next_slot:
            self._next_slot = self._returned.pop()

    def reserved_until(self) -> float:
        """The monotonic time the last reserved slot starts (for tests and metrics)."""
        return self._next_slot


# One pacer per workspace (Track host + site id), shared by every client in this process.
_PACERS: dict[tuple[str, float], RequestPacer] = {}


def workspace_key(config: CustomerIoConfig) -> str:
    """What one request budget covers: the workspace at the host requests go to."""
    base = config.pipelines_base_url if config.pipelines else config.track_base_url
    return f"{base} {config.workspace}"


def pacer_of(config: CustomerIoConfig, supplied: PacerFactory | None = None) -> Pacer:
    """The workspace's pacer: the host's (`supplied`), else this process's own."""
    if supplied is not None:
        return supplied(workspace_key(config), config.max_requests_per_second)
    return pacer_for(config)


def pacer_for(config: CustomerIoConfig) -> RequestPacer:
    key = (workspace_key(config), config.max_requests_per_second)
    if key not in _PACERS:
        _PACERS[key] = RequestPacer(config.max_requests_per_second)
    return _PACERS[key]
