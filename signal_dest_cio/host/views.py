"""What the host's responses show of integrations, revisions and deliveries (secrets
masked; stored data that cannot be rendered replaced by a note)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from .configs import masked
from .intake import depth_of
from .pool import DestinationPool, preview_requests
from .records import Delivery, Integration, Revision
from .store_api import HostStore

MAX_SHOWN_DEPTH = 64


def iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    stamp = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


class Views:
    """The views, over the store; a delivered event's requests are worked out when shown."""

    def __init__(self, store: HostStore, pool: DestinationPool) -> None:
        self.store = store
        self.pool = pool
        self._previewers: dict[tuple[str, int], Any] = {}  # preview only: never sends

    def current_revision(self, integration: Integration) -> Revision:
        revision = self.store.get_revision(integration.id, integration.revision)
        assert revision is not None
        return revision

    def revision(self, integration: Integration, revision: Revision) -> dict[str, Any]:
        return {
            "number": revision.number,
            "config": masked(revision.config, self.pool.secret_fields[integration.destination]),
            "created_at": iso(revision.created_at),
        }

    def integration(self, integration: Integration) -> dict[str, Any]:
        status = (
            "deleted"
            if integration.deleted_at is not None
            else "disabled"
            if not integration.enabled
            else "paused"
            if integration.paused
            else "active"
        )
        paused = integration.paused
        return {
            "id": integration.id,
            "name": integration.name,
            "destination": integration.destination,
            "variant": integration.variant,
            "delivery_mode": integration.delivery_mode,
            "enabled": integration.enabled,
            "status": status,
            "paused": None if paused is None else {**paused, "at": iso(paused.get("at"))},
            "revision": self.revision(integration, self.current_revision(integration)),
            "deliveries": self.store.counts(integration.id),
            "created_at": iso(integration.created_at),
            "updated_at": iso(integration.updated_at),
            "deleted_at": iso(integration.deleted_at),
        }

    def _requests_of(self, delivery: Delivery) -> list[Any]:
        """The vendor requests shown for a delivery: as recorded, or (a delivered event,
        whose preview the worker leaves for later) its preview under the revision it was
        delivered with, worked out now."""
        if delivery.requests is not None or delivery.revision is None or delivery.test:
            return delivery.requests or []
        integration = self.store.get_integration(delivery.integration_id)
        revision = (
            self.store.get_revision(delivery.integration_id, delivery.revision)
            if integration is not None
            else None
        )
        if integration is None or revision is None:
            return []
        key = (integration.id, revision.number)
        destination = self._previewers.get(key)
        if destination is None:
            destination = self.pool.build(integration.destination, revision.config)
            self._previewers = {key: destination}  # one at a time: listings are per integration
        secrets = self.pool.secrets_of(integration.destination, revision.config)
        return preview_requests(destination, delivery.event, secrets) or []

    def delivery(self, delivery: Delivery) -> dict[str, Any]:
        reason = None
        if delivery.status == "dead_lettered" and delivery.history:
            reason = delivery.history[-1].get("reason")
        return {
            "id": delivery.id,
            "message_id": delivery.message_id,
            "status": delivery.status,
            "test": delivery.test,
            "input": _shown(delivery.event),
            "requests": _shown(self._requests_of(delivery)),
            "response_status": delivery.response_status,
            "outcome": _shown(delivery.outcome),
            # The mapping rules (SPEC 12) whose actions sent it; None: the built-in mapping.
            "rule": (delivery.outcome or {}).get("rules") or None,
            "reason": reason,
            "attempts": delivery.attempts,
            "held_by": _held_by(delivery),
            "retry_seconds": round(delivery.retry_seconds, 3),
            "history": [
                {
                    **entry,
                    "at": iso(entry.get("at")),
                    "next_attempt_at": iso(entry.get("next_attempt_at")),
                }
                for entry in delivery.history
            ],
            "revision": delivery.revision,
            "next_attempt_at": iso(delivery.next_attempt_at)
            if delivery.status == "pending"
            else None,
            "queued_at": iso(delivery.queued_at),
            "created_at": iso(delivery.created_at),
            "updated_at": iso(delivery.updated_at),
        }


def _held_by(delivery: Delivery) -> dict[str, Any] | None:
    """What a pending delivery waits behind (SPEC 4.1), or None."""
    if delivery.status != "pending" or delivery.held_by is None:
        return None
    return {"delivery_id": delivery.held_by, "message_id": delivery.held_by_message_id}


def _shown(value: Any) -> Any:
    """Stored data as a response may show it: anything that could not be rendered (data
    stored before the ingestion depth limit, say) is replaced by a note, never a 500."""
    if depth_of(value, MAX_SHOWN_DEPTH) > MAX_SHOWN_DEPTH:
        return {"unrenderable": f"nested more than {MAX_SHOWN_DEPTH} levels deep"}
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode()
    except (ValueError, TypeError, RecursionError, UnicodeError) as error:
        return {"unrenderable": f"cannot be shown as JSON ({type(error).__name__})"}
    return value
