"""The cyclic garbage collector held off while a call maps and packs a batch of events.

Mapping 1,000 events makes some 100,000 containers that all live until the call
returns, so the collector, triggered by allocation counts, walks them (and the whole
heap, on a full collection) over and over without finding anything to free: about a
tenth of `deliver()`'s CPU. Reference counting still frees everything as usual; only
the search for cycles waits until the synchronous stretch is over.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection inside the block (no await belongs in it). A collector that
    was already off stays off: it is only turned back on when this turned it off."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
