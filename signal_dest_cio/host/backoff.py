"""When to try a delivery again: exponential backoff with full jitter, and an injectable clock.

Full jitter (a uniform draw between 0 and the exponential ceiling) spreads the
retries of many events that failed together, so they do not come back as one
wave. A vendor's `Retry-After` is a floor: never retry before it says.
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

    max_attempts: int = 20
    max_age_seconds: float = 24 * 3600.0
    base_delay_seconds: float = 1.0
    max_delay_seconds: float = 600.0

    def ceiling(self, attempt: int) -> float:
        """The largest wait after the `attempt`-th failed try (1-based)."""
        exponent = min(max(attempt - 1, 0), 62)  # 2**62 is far past any cap
        return float(min(self.max_delay_seconds, self.base_delay_seconds * 2.0**exponent))

    def delay(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before the next try: full jitter, never less than `retry_after`."""
        jittered = (rng or random).uniform(0.0, self.ceiling(attempt))
        return max(jittered, retry_after or 0.0)

    def exhausted(self, attempts: int, age_seconds: float) -> bool:
        return attempts >= self.max_attempts or age_seconds >= self.max_age_seconds


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
