"""Customer.io as a source (SPEC 9): reporting webhooks in, stored, then fanned out.

`POST /v1/sources/customer_io/{integration_id}/reporting-webhooks` is the URL to paste
into Customer.io's Reporting Webhooks; the integration's config holds the webhook
signing key (`reporting_webhook_signing_key`, a secret: stored encrypted, masked on
reads, set through a revision). A webhook is accepted only with a valid
`X-CIO-Signature` over `v0:<X-CIO-Timestamp>:<raw body>` (five minutes either way);
anything else is a 401 and nothing is stored. Customer.io holds every later webhook
behind one that failed, so an accepted one is stored and answered 200 at once; the
same `event_id` again is a 200, stored once. Each becomes the canonical track event
of `webhooks.to_track_event` and is queued for the host's other enabled integrations,
never for a Customer.io integration of the same workspace (no loop).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ..webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookRefused, to_track_event, verify
from .errors import ApiError, not_found
from .guard import WEBHOOK_SOURCE
from .service import Host

SOURCE_KEY = "customer_io"
SIGNING_KEY_FIELD = "reporting_webhook_signing_key"
PATH = "/v1/sources/customer_io/{integration_id}/reporting-webhooks"

sources = APIRouter(tags=["sources"])


def namespace_of(integration_id: str) -> str:
    """Webhook event ids live apart from real messageIds, per source integration."""
    return f"cio-webhook:{integration_id}"


@sources.post(PATH, openapi_extra={"security": []})
async def reporting_webhook(integration_id: str, request: Request) -> dict[str, Any]:
    host: Host = request.app.state.host
    integration = host.store.get_integration(integration_id)
    if integration is None or integration.destination != SOURCE_KEY:
        raise not_found("Customer.io integration", integration_id)
    config = host.current_revision(integration).config
    key = config.get(SIGNING_KEY_FIELD)
    if not isinstance(key, str) or not key:
        raise ApiError(
            401,
            "no_signing_key",
            f"set {SIGNING_KEY_FIELD} on the integration (a revision) to accept webhooks",
        )
    body = await request.body()
    try:
        verify(
            key,
            request.headers.get(TIMESTAMP_HEADER),
            request.headers.get(SIGNATURE_HEADER),
            body,
            host.now(),
        )
        event = to_track_event(body, integration.id)
    except WebhookRefused as refused:
        raise ApiError(refused.status, refused.code, refused.message) from None
    excluded = same_workspace(host, config.get("site_id"), config.get("cdp_api_key"))
    [accepted] = host.store.ingest(
        [(event["messageId"], event)],
        host.now(),
        namespace=namespace_of(integration.id),
        exclude=excluded | {integration.id},
    )
    host.worker.wake()
    request.app.state.ingest_counters.one(WEBHOOK_SOURCE, duplicate=accepted.duplicate)
    return {"ok": True, "message_id": event["messageId"], "duplicate": accepted.duplicate}


def same_workspace(host: Host, site_id: Any, cdp_key: Any) -> set[str]:
    """Customer.io integrations that send to the workspace the webhook came from."""
    found = set()
    for other in host.store.list_integrations():
        if other.destination != SOURCE_KEY:
            continue
        config = host.current_revision(other).config
        if (site_id and config.get("site_id") == site_id) or (
            cdp_key and config.get("cdp_api_key") == cdp_key
        ):
            found.add(other.id)
    return found
