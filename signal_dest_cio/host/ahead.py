"""The next rows' lanes worked out while a round's requests are out.

A round waits one round trip for its answers (30 ms and more) with nothing else to do,
and the next walk then spends most of its time mapping rows for their lane keys
(`DestinationPool.lane_keys`). So while the requests are out, the worker maps the rows
that come after the round, as many as the wait allows; the next walk takes an event's
lane keys (and the destination its mapping) from there instead of mapping it again.

Nothing is decided here: which rows go, in which order, and what holds them is the
walk's alone, as before. An event's lane keys depend only on the stored event (never
changed once ingested) and the destination instance that mapped it, so a mapping made
early is the one the walk would have made; a mapping made by another instance (a new
revision meanwhile) is not used.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from .records import Delivery

# Rows read per store call while mapping ahead, and rows mapped between two looks at
# the loop (the answers being waited for are read as soon as they come).
AHEAD_PAGE = 100
ROWS_PER_YIELD = 4

Mapped = tuple[Any, list[str]]  # (the event as handed to the destination, its lane keys)
ReadRows = Callable[[int], Awaitable[list[Delivery]]]  # rows due after a seq


class MappedAhead:
    """Per integration: rows mapped during the last round trip, for the next walk."""

    def __init__(
        self,
        lane_keys: Callable[[Any, Any], list[str]],
        handed: Callable[[Any, Delivery], Any],
    ) -> None:
        self._lane_keys = lane_keys
        self._handed = handed  # what the destination is handed for a row (its text)
        self._ready: dict[str, tuple[Any, dict[int, Mapped]]] = {}

    async def map_while(
        self,
        integration_id: str,
        destination: Any,
        first: list[Delivery],
        after_seq: int,
        read: ReadRows,
        sending: asyncio.Future[Any],
        limit: int,
    ) -> None:
        """Map up to `limit` rows until `sending` is done: `first` (rows already read), then
        the due rows after them (or after `after_seq`), `read` a page at a time."""
        ready: dict[int, Mapped] = {}
        self._ready[integration_id] = (destination, ready)
        rows = first
        while not sending.done() and len(ready) < limit:
            for position, row in enumerate(rows):
                if sending.done() or len(ready) >= limit:
                    return
                if row.lane_keys is None:
                    handed = self._handed(destination, row)
                    ready[row.id] = (handed, self._lane_keys(destination, handed))
                if position % ROWS_PER_YIELD == ROWS_PER_YIELD - 1:
                    await asyncio.sleep(0)  # the answers waited for are read as they come
            if rows:
                after_seq = rows[-1].seq
            rows = await read(after_seq)
            if not rows:
                return

    def take(self, integration_id: str, destination: Any) -> dict[int, Mapped]:
        """What was mapped ahead by this very destination instance (once; then gone)."""
        found = self._ready.pop(integration_id, None)
        if found is None or found[0] is not destination:
            return {}
        return found[1]

    def forget(self, integration_id: str) -> None:
        self._ready.pop(integration_id, None)
