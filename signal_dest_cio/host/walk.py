"""The walk before a round (SPEC 4.1): which due deliveries go, in order, and which wait.

The integration's pending deliveries are read in ingestion order, a page at a time,
through a `LaneBarrier`. One that waits (its retry not due, or held) holds every
identifier it touches; a due delivery that shares one is held too, and records what it
waits for. An event's lane keys are worked out the first time it is walked (or were,
while the last round's requests were out: `ahead.py`) and stored with it.
"""

from __future__ import annotations

from typing import Any

from ..lanes import LaneBarrier
from .ahead import Mapped
from .pool import DestinationPool
from .records import Delivery
from .settle import hold
from .store_api import HostStore

CLAIM_PAGE = 100

Hold = tuple[int, str, float]  # (delivery id, message id, next try) of a lane's head


def walk(
    store: HostStore,
    pool: DestinationPool,
    integration_id: str,
    destination: Any,
    *,
    now: float,
    batch_size: int,
    early: dict[int, Mapped],
    owner: str,
) -> tuple[list[Delivery], list[Delivery], list[Delivery]]:
    """Up to `batch_size` due deliveries that no earlier unsettled one holds, in order;
    the others this walk changed (held now, or their lane keys worked out); and the
    rows read after the batch was full, not looked at. `early`: rows mapped ahead by
    this destination instance (id -> the object handed to it, its lane keys)."""
    barrier: LaneBarrier[Hold] = LaneBarrier()
    send: list[Delivery] = []
    touched: dict[int, Delivery] = {}
    unwalked: list[Delivery] = []
    after = 0
    while len(send) < batch_size:
        # Read in pages of at most CLAIM_PAGE rows: each read holds the store's lock,
        # and ingestion should never wait behind a thousand rows being fetched.
        page = store.due_deliveries(integration_id, now, min(batch_size, CLAIM_PAGE), after)
        if not page:
            break
        waiting = store.waiting_deliveries(integration_id, now, after, page[-1].seq)
        after = page[-1].seq
        rows = sorted([*page, *waiting], key=lambda d: d.seq)
        for position, row in enumerate(rows):
            if len(send) >= batch_size:
                unwalked = rows[position:]
                break
            if row.lane_keys is None:
                found = early.get(row.id)
                if found is None:
                    row.lane_keys = pool.lane_keys(destination, pool.handed(destination, row))
                else:  # mapped while the last round's requests were out: the very
                    # object mapped is the one handed on (its mapping is kept by it)
                    row.source, row.lane_keys = found
                touched[row.id] = row
            if row.next_attempt_at > now:
                head = row.held_by or row.id
                head_message = row.held_by_message_id or row.message_id
                barrier.block(row.lane_keys, (head, head_message, row.next_attempt_at))
                continue
            holder = barrier.admit(row.lane_keys)
            if holder is None:
                _note_takeover(row, owner, now)
                send.append(row)
                touched.pop(row.id, None)  # saved when it is settled
            else:
                hold(row, holder, now)
                touched[row.id] = row
    return send, list(touched.values()), unwalked


def _note_takeover(row: Delivery, owner: str, now: float) -> None:
    """A delivery another worker claimed and never settled: that worker stopped (or lost
    its lease) with it in flight. It is sent again, with the same dedup id; say so."""
    if row.leased_by is None or row.leased_by == owner:
        return
    row.history.append(
        {
            "at": now,
            "kind": "reclaimed",
            "code": "lease_expired",
            "leased_by": row.leased_by,
            "message": f"worker {row.leased_by} stopped before this event settled; sent again",
        }
    )
    row.leased_by = owner
