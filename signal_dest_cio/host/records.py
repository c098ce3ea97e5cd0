"""The rows the host's store hands out: integrations, revisions, deliveries."""

from __future__ import annotations

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


@dataclass(slots=True)
class Delivery:
    id: int
    integration_id: str
    message_id: str
    event: Any
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


@dataclass(frozen=True, slots=True)
class Accepted:
    message_id: str
    duplicate: bool


class Row(Protocol):
    """A sqlite3.Row or a psycopg dict row: both are read by column name."""

    def __getitem__(self, key: str, /) -> Any: ...

    def keys(self) -> Any: ...


def _loads(text: str | None) -> Any:
    return None if text is None else loads(text)[0]


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


def delivery_from(row: Row) -> Delivery:
    return Delivery(
        id=row["id"],
        integration_id=row["integration_id"],
        message_id=row["message_id"],
        event=loads(row["body"])[0],
        status=row["status"],
        attempts=row["attempts"],
        queued_at=row["queued_at"],
        next_attempt_at=row["next_attempt_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        outcome=_loads(row["outcome"]),
        requests=_loads(row["requests"]),
        response_status=row["response_status"],
        revision=row["revision"],
        history=_loads(row["history"]) or [],
        test=bool(row["test"]),
        seq=row["event_seq"],
        lane_keys=_loads(row["lane_keys"]),
        held_by=row["held_by"],
        held_by_message_id=row["held_by_message_id"],
        retry_seconds=row["retry_seconds"],
        leased_by=_optional(row, "leased_by"),
    )
