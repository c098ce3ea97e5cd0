"""The rows the host's store hands out: integrations, revisions, deliveries."""

from __future__ import annotations

import functools
import operator
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..jsoncodec import loads

DELIVERY_STATUSES = ("pending", "delivered", "filtered", "dead_lettered")


@dataclass(frozen=True, slots=True)
class Integration:
    id: str
    name: str
    destination: str
    variant: str | None
    delivery_mode: str
    enabled: bool
    paused: dict[str, Any] | None
    revision: int
    created_at: float
    updated_at: float
    deleted_at: float | None = None  # deleted: kept as a record, sends nothing


@dataclass(frozen=True, slots=True)
class Revision:
    integration_id: str
    number: int
    config: dict[str, Any]
    created_at: float


_UNREAD = object()


@dataclass(slots=True)
class Delivery:
    id: int
    integration_id: str
    message_id: str
    # The stored event as the store holds it, its JSON text (or a value, built in code):
    # `event` decodes it on first use. A walk reads rows it never looks into (mapped
    # ahead, or read again behind a full batch), and a destination that reads JSON text
    # itself is handed the text, so most rows are decoded once, by the mapper, or never.
    source: Any
    status: str
    attempts: int
    queued_at: float
    next_attempt_at: float
    created_at: float
    updated_at: float
    outcome: dict[str, Any] | None = None
    requests: list[Any] | None = None
    response_status: int | None = None
    revision: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    test: bool = False
    seq: int = 0  # the event's place in ingestion order: a lane's order
    lane_keys: list[str] | None = None  # None until the worker has asked the destination
    held_by: int | None = None  # the delivery this one waits behind (SPEC 4.1)
    held_by_message_id: str | None = None
    retry_seconds: float = 0.0  # time spent waiting for its own retries (the age budget)
    leased_by: str | None = None  # the worker that last claimed it (PostgreSQL; SPEC 11)
    _event: Any = field(default=_UNREAD, init=False, repr=False, compare=False)

    @property
    def event(self) -> Any:
        """The stored event, decoded (once)."""
        if self._event is _UNREAD:
            source = self.source
            self._event = loads(source)[0] if isinstance(source, str) else source
        return self._event


@dataclass(frozen=True, slots=True)
class Accepted:
    message_id: str
    duplicate: bool


class Row(Protocol):
    """A sqlite3.Row or a psycopg dict row: both are read by column name."""

    def __getitem__(self, key: str, /) -> Any: ...

    def keys(self) -> Any: ...


def _loads(text: str | None) -> Any:
    if text is None:
        return None
    if text == "[]":  # the history of every delivery not tried yet
        return []
    return loads(text)[0]


def _optional(row: Row, name: str) -> Any:
    """A column only some stores have (the SQLite store keeps no delivery leases)."""
    # sqlite3.Row iterates over values, not names: ask its keys.
    return row[name] if name in row.keys() else None  # noqa: SIM118


def integration_from(row: Row) -> Integration:
    return Integration(
        id=row["id"],
        name=row["name"],
        destination=row["destination"],
        variant=row["variant"],
        delivery_mode=row["delivery_mode"],
        enabled=bool(row["enabled"]),
        paused=_loads(row["paused"]),
        revision=row["revision"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        deleted_at=_optional(row, "deleted_at"),
    )


# A delivery's columns in its fields' order; the last, `leased_by`, only the PostgreSQL
# store has (the SQLite store keeps no delivery leases): read as None where it is missing.
_DELIVERY_FIELDS = (
    "id", "integration_id", "message_id", "body", "status", "attempts", "queued_at",
    "next_attempt_at", "created_at", "updated_at", "outcome", "requests", "response_status",
    "revision", "history", "test", "event_seq", "lane_keys", "held_by", "held_by_message_id",
    "retry_seconds", "leased_by",
)  # fmt: skip


@functools.lru_cache(maxsize=32)
def _delivery_reader(row_type: type, columns: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """One C call that takes a row's delivery columns in order. A worker's walk reads
    thousands of rows a round, and sqlite3.Row looks a name up by comparing it with
    every column (~0.5 us a field): a sqlite3.Row is read by position instead."""
    leased = "leased_by" in columns
    present = _DELIVERY_FIELDS if leased else _DELIVERY_FIELDS[:-1]
    by_position = issubclass(row_type, sqlite3.Row)
    take = operator.itemgetter(*(columns.index(n) if by_position else n for n in present))
    return take if leased else lambda row: (*take(row), None)


def delivery_from(row: Row) -> Delivery:
    return deliveries_from([row])[0]


def deliveries_from(rows: Sequence[Row]) -> list[Delivery]:
    """Deliveries from a query's rows (all of one shape: the reader is picked once)."""
    if not rows:
        return []
    read = _delivery_reader(type(rows[0]), tuple(rows[0].keys()))
    return [_delivery(*read(row)) for row in rows]


def _delivery(
    id_: int, integration_id: str, message_id: str, body: str, status: str, attempts: int,
    queued_at: float, next_attempt_at: float, created_at: float, updated_at: float,
    outcome: str | None, requests: str | None, response_status: int | None,
    revision: int | None, history: str | None, test: int, seq: int, lane_keys: str | None,
    held_by: int | None, held_by_message_id: str | None, retry_seconds: float,
    leased_by: str | None,
) -> Delivery:  # fmt: skip
    # Positional: a walk builds a thousand a round, and 22 keywords cost ~2 us more each.
    return Delivery(
        id_, integration_id, message_id, body, status, attempts, queued_at,
        next_attempt_at, created_at, updated_at, _loads(outcome), _loads(requests),
        response_status, revision, _loads(history) or [], bool(test), seq, _loads(lane_keys),
        held_by, held_by_message_id, retry_seconds, leased_by,
    )  # fmt: skip
