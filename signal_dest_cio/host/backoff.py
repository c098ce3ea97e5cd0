"""When to try a delivery again: exponential backoff with equal jitter, and an injectable clock.

Equal jitter (half the exponential ceiling, plus a uniform draw over the other half)
spreads the retries of many events that failed together, so they do not come back
as one wave, and still guarantees each wait at least half the ceiling, so the
schedule is known: with the defaults, waits grow 0.5-1 s, 1-2 s, ... up to 30-60
min from the 13th try on, and the 24-hour age budget (time spent waiting for
retries only) is what ends it, after 36 to 60 attempts. A vendor's `Retry-After` is
a floor: never retry before it says.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long a `retry` outcome is retried before the event is dead-lettered."""

    # Chosen so that retries span the age budget: even the shortest waits (half the
    # ceiling) need 59 attempts to cover 24 hours, so an outage of hours is ridden out.
    max_attempts: int = 60
    max_age_seconds: float = 24 * 3600.0
    base_delay_seconds: float = 1.0
    max_delay_seconds: float = 3600.0

    def ceiling(self, attempt: int) -> float:
        """The largest wait after the `attempt`-th failed try (1-based)."""
        exponent = min(max(attempt - 1, 0), 62)  # 2**62 is far past any cap
        return float(min(self.max_delay_seconds, self.base_delay_seconds * 2.0**exponent))

    def delay(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before the next try: equal jitter, never less than `retry_after`."""
        ceiling = self.ceiling(attempt)
        jittered = ceiling / 2 + (rng or random).uniform(0.0, ceiling / 2)
        return max(jittered, retry_after or 0.0)

    def exhausted(self, attempts: int, retry_seconds: float) -> bool:
        """`retry_seconds`: time spent waiting for retries (never held, paused or disabled)."""
        return attempts >= self.max_attempts or retry_seconds >= self.max_age_seconds


class Clock(Protocol):
    """Wall time in seconds and a way to wait; tests pass a `ManualClock`."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))


class ManualClock:
    """A clock that only moves when told to, or when something sleeps on it."""

    def __init__(self, start: float = 1_770_000_000.0) -> None:
        self.current = start

    def now(self) -> float:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += max(seconds, 0.0)

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)  # still yield, as a real sleep would
