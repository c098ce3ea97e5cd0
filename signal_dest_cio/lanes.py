"""Order per identity (SPEC 4.1): which events share a lane, and the barrier that holds one.

Two events share a lane when they touch a common identifier (a person's id, email
or cio_id, an anonymous id, either side of a merge, an object), transitively, in
input order. `lane_groups` is the pure grouping `deliver()` schedules by;
`LaneBarrier` is the small state machine that holds a lane's later events behind
an earlier one that has not settled, used by `deliver()` and by the host's worker.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Generic, TypeVar

from .operations import Mapped

Blocker = TypeVar("Blocker")


def _person_key(value: str) -> str:
    # Customer.io finds people by email case-insensitively: so does the lane.
    return "p:" + (value.lower() if "@" in value else value)


def lane_keys(mapped: Mapped) -> tuple[str, ...]:
    """Every identifier an event's operations touch, as lane keys (no duplicates)."""
    keys: dict[str, None] = {}
    for op in mapped.operations:
        for person in (op.person, op.secondary):
            if person is not None:
                keys[_person_key(person.value)] = None
        if op.anonymous_id:
            keys["a:" + op.anonymous_id] = None
        if op.object_id is not None:
            keys[f"o:{op.object_type_id}:{op.object_id}"] = None
    return tuple(keys)


def lane_groups(keys_per_event: Sequence[Iterable[str]]) -> list[list[int]]:
    """Event indexes grouped into lanes, each in input order; lanes in order of first event.

    Keys are joined transitively (union-find): an anonymous page, the identify that
    claims its anonymous id, and an alias folding an old id into that person are one
    lane. An event with no key is a lane of its own.
    """
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    owners: list[str] = []
    for index, keys in enumerate(keys_per_event):
        listed = list(keys) or [f"#{index}"]
        for key in listed[1:]:
            first, other = root(listed[0]), root(key)
            if first != other:
                parent[other] = first
        owners.append(listed[0])
    lanes: dict[str, list[int]] = {}
    for index, key in enumerate(owners):
        lanes.setdefault(root(key), []).append(index)
    return list(lanes.values())


class LaneBarrier(Generic[Blocker]):
    """Keys held behind an unsettled event, walked in input order.

    `block(keys, by)` records that `by` (an event that failed, or waits for its retry)
    has not settled; `holder(keys)` is whoever holds the first blocked key, or None.
    An event found held must itself be blocked by the same holder, so that whatever
    shares a key only with it waits too: the barrier is transitive in input order.
    """

    def __init__(self) -> None:
        self._held: dict[str, Blocker] = {}

    def holder(self, keys: Iterable[str]) -> Blocker | None:
        for key in keys:
            if key in self._held:
                return self._held[key]
        return None

    def block(self, keys: Iterable[str], by: Blocker) -> None:
        for key in keys:
            self._held.setdefault(key, by)

    def admit(self, keys: Sequence[str]) -> Blocker | None:
        """None when an event may go; else its holder, and its keys are now held too."""
        found = self.holder(keys)
        if found is not None:
            self.block(keys, found)
        return found

    def __bool__(self) -> bool:
        return bool(self._held)
