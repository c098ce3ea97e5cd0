"""The cyclic garbage collector held off while a call maps and packs a batch of events.

Mapping 1,000 events makes some 100,000 containers that all live until the call
returns, so the collector, triggered by allocation counts, walks them (and the whole
heap, on a full collection) over and over without finding anything to free: about a
tenth of `deliver()`'s CPU. Reference counting still frees everything as usual; only
the search for cycles waits until the whole call is over (`paused_during`, around
`deliver()`).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

# The blocks open that keep the collector off, once one of them turned it off: calls that
# overlap (two deliver() calls on one loop) turn it back on when the last one ends, not
# the first, which would let it walk the other call's live objects at every allocation
# count; the earlier ones collect now and then as they end.
_open = 0
_count_lock = threading.Lock()
COLLECT_EVERY = 10
_ended_while_open = 0  # calls ended with others still out, since the last collection


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection inside the block. A collector that was already off stays
    off: it is only turned back on when these blocks turned it off, as the last one
    open ends. An await inside the block pauses it for whatever runs meanwhile too
    (`paused_during` does so on purpose)."""
    global _open, _ended_while_open
    with _count_lock:
        ours = _open > 0 or gc.isenabled()  # else off by someone else: left to them
        if ours:
            if _open == 0:
                gc.disable()
            _open += 1
    if not ours:
        yield
        return
    try:
        yield
    finally:
        with _count_lock:
            _open -= 1
            due = False
            if _open == 0:
                gc.enable()
                _ended_while_open = 0
            else:
                # Calls that keep overlapping (a caller with the next call always out)
                # would otherwise keep the collector off for good, and cycles would never
                # be freed. A collection now walks the calls still out (~5 ms for one of
                # 1,000 events), so it is made every COLLECT_EVERY such ends, not each.
                _ended_while_open += 1
                due = _ended_while_open >= COLLECT_EVERY
                if due:
                    _ended_while_open = 0
        if due:
            _collect_as_due()


def _collect_as_due() -> None:
    """The generation the collector would collect now, were it on (its own rule: the
    oldest whose count is over its threshold), collected."""
    counts, thresholds = gc.get_count(), gc.get_threshold()
    for generation in (2, 1, 0):
        if thresholds[generation] and counts[generation] > thresholds[generation]:
            gc.collect(generation)
            return


async def paused_during(call: Awaitable[T]) -> T:
    """`await call` with no cyclic collection until it is over, its awaits included.

    The collector comes back once the call has returned, when every object only it held
    (the mapped events, their operations, the packed batches) is already freed: its
    next collection walks what the call returned, not all it made. Tasks that run during
    the call's awaits run with it off too; what they leave in cycles waits for its end."""
    with collector_paused():
        return await call
