"""What /live reads besides the deliveries list: one delivery whole, and an integration's
per-minute timeline (delivered, failed, latency) for its chart. Admin routes, like
every other read; the page holds no data of its own."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from .api import HostDep, require_admin
from .errors import not_found
from .timeline import per_minute

# A chart reads at most this many of the newest settled deliveries per status: its cost
# stays flat however long the integration has run. `complete` says when it was enough.
TIMELINE_ROWS = 5000

live_api = APIRouter(prefix="/v1/admin", dependencies=[Depends(require_admin)], tags=["admin"])


@live_api.get("/integrations/{integration_id}/deliveries/{delivery_id}")
def show_delivery(
    integration_id: str,
    delivery_id: Annotated[int, Path(ge=1, le=2**62)],
    host: HostDep,
) -> dict[str, Any]:
    """One delivery: its input, the vendor requests and their statuses, its history."""
    integration = host.integration(integration_id)
    found = host.store.get_delivery(integration.id, delivery_id)
    if found is None:
        raise not_found("delivery", str(delivery_id))
    return {**host.views.delivery(found), "integration_id": integration.id}


@live_api.get("/integrations/{integration_id}/timeline")
def timeline(
    integration_id: str,
    host: HostDep,
    minutes: Annotated[int, Query(ge=1, le=180)] = 30,
) -> dict[str, Any]:
    """Per minute, oldest first: delivered, failed (dead-lettered), filtered, and the
    delivered ones' latency (queued or replayed -> delivered) in ms: p50, p95, max."""
    integration = host.integration(integration_id)
    settled = host.store.settled_times(integration.id, TIMELINE_ROWS)
    chart = per_minute(settled, host.now(), minutes)
    # Complete unless some status filled its quota with rows all inside the window.
    oldest: dict[str, float] = {}
    seen: dict[str, int] = {}
    for status, _, updated_at in settled:
        seen[status] = seen.get(status, 0) + 1
        oldest[status] = min(oldest.get(status, updated_at), updated_at)
    window_start = host.now() - host.now() % 60 - (minutes - 1) * 60
    complete = all(
        count < TIMELINE_ROWS or oldest[status] < window_start for status, count in seen.items()
    )
    return {
        "integration_id": integration.id,
        "minutes": minutes,
        **chart,
        "complete": complete,
    }
