"""The admin API's edges, apart from HTTP: deleted integrations, duplicate installs, and
what a replay could not find.

- **Delete** keeps everything as a record: the integration is marked deleted (and
  disabled: it gets no new events and is never walked), its pending deliveries are
  dead-lettered with `integration_deleted`, and it, its revisions and its deliveries
  stay readable by id. Changing it afterwards (enable, a revision, a replay, a test
  event) is a 409 `integration_deleted`.
- **A duplicate install** (the same destination with the same config as an
  integration not deleted) would deliver every event twice: it is a 409
  `duplicate_integration` naming the existing one, unless `allow_duplicate=true`.
- **Replay** answers which of the ids it was given it found nowhere, and which it
  found but did not replay (they were not dead letters).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .errors import ApiError
from .records import Integration
from .store_api import HostStore


def refuse_if_deleted(integration: Integration) -> Integration:
    if integration.deleted_at is not None:
        raise ApiError(
            409,
            "integration_deleted",
            f"integration {integration.id} was deleted: its records can be read, not changed",
        )
    return integration


def twin_of(store: HostStore, destination: str, config: Mapping[str, Any]) -> Integration | None:
    """An integration (not deleted) sending to `destination` with exactly this config."""
    for integration in store.list_integrations():
        if integration.destination != destination:
            continue
        revision = store.get_revision(integration.id, integration.revision)
        if revision is not None and revision.config == dict(config):
            return integration
    return None


def duplicate_install(twin: Integration) -> ApiError:
    return ApiError(
        409,
        "duplicate_integration",
        f"integration {twin.id} ({twin.name!r}) already sends to {twin.destination} with "
        "this config: a second one would deliver every event twice. Change its config, "
        "or install again with allow_duplicate=true",
        [{"field": "config", "code": "duplicate", "integration_id": twin.id}],
    )


def replay_report(
    requeued: list[int],
    found: list[tuple[int, str, str]],
    delivery_ids: Sequence[int] | None,
    message_ids: Sequence[str] | None,
) -> dict[str, Any]:
    """The replay's answer: what went back in the queue, what was named but unknown,
    and what was found but not replayed (`found` read before the replay)."""
    known_ids = {delivery_id for delivery_id, _, _ in found}
    known_messages = {message_id for _, message_id, _ in found}
    unknown_ids = [i for i in dict.fromkeys(delivery_ids or ()) if i not in known_ids]
    unknown_messages = [m for m in dict.fromkeys(message_ids or ()) if m not in known_messages]
    again = set(requeued)
    return {
        "requeued": len(requeued),
        "delivery_ids": requeued,
        "unknown": {"delivery_ids": unknown_ids, "message_ids": unknown_messages},
        "not_replayed": [
            {"delivery_id": delivery_id, "message_id": message_id, "status": status}
            for delivery_id, message_id, status in sorted(found)
            if delivery_id not in again
        ],
    }


def verification_view(report: Mapping[str, Any] | None) -> dict[str, Any]:
    """What an install answer adds: the check's report, and a warning per failed check."""
    if report is None:
        return {"verification": None, "warnings": []}
    failed = [check for check in report.get("checks", []) if not check.get("ok")]
    return {
        "verification": dict(report),
        "warnings": [
            {
                "code": "verification_failed",
                "check": check.get("name"),
                "message": check.get("message", ""),
            }
            for check in failed
        ],
    }
