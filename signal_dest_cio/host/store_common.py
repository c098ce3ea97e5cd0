"""What both stores write the same way: JSON columns, history entries, delivery updates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..jsoncodec import dumps_value as json_dumps_value
from ..jsoncodec import loads as json_loads
from .records import Delivery

# Deleted integrations are kept as records but listed nowhere (nor walked, nor fed).
LIVE_INTEGRATIONS = "SELECT * FROM integrations WHERE deleted_at IS NULL ORDER BY id"


def loads(text: str | None) -> Any:
    return None if text is None else json_loads(text)[0]


def dumps(value: Any) -> str | None:
    return None if value is None else column_text(value)


def column_text(value: Any) -> str:
    """A JSON column's text (a stored event, an outcome, a history). It only has to read
    back (`jsoncodec.loads`, the only reader) as the same value, not be the standard
    library's bytes (`jsoncodec.dumps` makes sure of those at several us a call; ingestion
    stores every event and a round writes three columns per event)."""
    return json_dumps_value(value).decode()


# Columns a settled (or held) delivery writes back, in the order `delivery_values` gives.
DELIVERY_COLUMNS = (
    "status",
    "attempts",
    "queued_at",
    "next_attempt_at",
    "outcome",
    "requests",
    "response_status",
    "revision",
    "history",
    "lane_keys",
    "held_by",
    "retry_seconds",
    "updated_at",
)


def delivery_values(d: Delivery, now: float) -> tuple[Any, ...]:
    """A delivery's write-back: `DELIVERY_COLUMNS`' values, then its id (the row's key)."""
    return (
        d.status,
        d.attempts,
        d.queued_at,
        d.next_attempt_at,
        dumps(d.outcome),
        dumps(d.requests),
        d.response_status,
        d.revision,
        dumps(d.history),
        dumps(d.lane_keys),
        d.held_by,
        d.retry_seconds,
        now,
        d.id,
    )


SELECT_DELIVERY = (
    "SELECT d.*, e.message_id, e.body, he.message_id AS held_by_message_id"
    " FROM deliveries d JOIN events e ON e.seq = d.event_seq"
    " LEFT JOIN deliveries h ON h.id = d.held_by LEFT JOIN events he ON he.seq = h.event_seq"
)


def released_history(
    history_text: str | None, blocker_id: int, blocker_message: str, dead: bool, now: float
) -> list[dict[str, Any]]:
    """A held delivery's history once its blocker settled: a dead letter's release is
    written down, naming the delivery and message that were given up on."""
    history: list[dict[str, Any]] = loads(history_text) or []
    if dead:
        history.append(
            {
                "at": now,
                "kind": "released",
                "code": "lane_released",
                "released_by": {"delivery_id": blocker_id, "message_id": blocker_message},
                "message": f"{blocker_message} was dead-lettered; "
                "this event no longer waits for it",
            }
        )
    return history


def test_interrupted(now: float) -> dict[str, Any]:
    return {
        "at": now,
        "kind": "rejected",
        "code": "test_interrupted",
        "reason": {
            "code": "test_interrupted",
            "message": "the host stopped before this test event had an outcome",
        },
    }


def integration_deleted(now: float) -> dict[str, Any]:
    """The history entry of a delivery still pending when its integration was deleted."""
    return {
        "at": now,
        "kind": "deleted",
        "code": "integration_deleted",
        "reason": {
            "code": "integration_deleted",
            "message": "the integration was deleted before this event was delivered",
        },
    }


def dead_letter_if_deleted(
    deliveries: Sequence[Delivery], deleted: Mapping[str, float | None]
) -> list[int]:
    """Deliveries being written back whose integration was deleted meanwhile (a round was
    out, or a walk held them, as `delete_integration` ran): none is left pending, where no
    worker would ever walk it again. Each still pending becomes a dead letter, as the
    deletion made every pending delivery (`integration_deleted`, at the deletion's time);
    one that settled (delivered, filtered, dead) keeps its outcome. Their positions."""
    changed = []
    for position, delivery in enumerate(deliveries):
        deleted_at = deleted.get(delivery.integration_id)
        if deleted_at is not None and delivery.status == "pending":
            delivery.status = "dead_lettered"
            delivery.held_by = delivery.held_by_message_id = None
            delivery.history.append(integration_deleted(deleted_at))
            changed.append(position)
    return changed
