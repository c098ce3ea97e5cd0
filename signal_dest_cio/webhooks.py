"""Customer.io as a source (SPEC 9): verify a reporting webhook and turn it into a canonical
track event. Pure: no I/O; the host stores and fans out what this returns.

- Signature: `X-CIO-Signature` is the hex HMAC-SHA256, under the webhook signing key,
  of `v0:<X-CIO-Timestamp>:<raw body>`; compared in constant time; the timestamp
  (unix seconds) within five minutes of now.
- Event: `{event_id, object_type, metric, timestamp, data: {customer_id, identifiers,
  delivery_id, ...}}` becomes `track` with `userId` = `data.customer_id`, else
  `identifiers.id` (else the email, as `properties.email`), `event` named by object
  and metric (`Email Delivered`, `Email Opened`, `Email Link Clicked`, `Push Opened`,
  `SMS Bounced`, `Customer Unsubscribed`, ...), `properties` = the metric, object type
  and `data`, `messageId` = `event_id`, `timestamp` = the webhook's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

SIGNATURE_HEADER = "x-cio-signature"
TIMESTAMP_HEADER = "x-cio-timestamp"
TOLERANCE_SECONDS = 5 * 60
SOURCE = "customer_io_reporting_webhook"

OBJECTS = {
    "email": "Email",
    "push": "Push",
    "sms": "SMS",
    "in_app": "In-App Message",
    "slack": "Slack Message",
    "webhook": "Webhook",
    "whatsapp": "WhatsApp Message",
    "customer": "Customer",
}
METRICS = {
    "clicked": "Link Clicked",
    "spammed": "Marked as Spam",
    "cio_subscription_preferences_changed": "Subscription Preferences Changed",
}


class WebhookRefused(Exception):
    """Why a webhook is not accepted; `code` is machine-readable, `status` the answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def signature(key: str, timestamp: str, body: bytes) -> str:
    """The `X-CIO-Signature` Customer.io sends for `body` at `timestamp`."""
    message = b"v0:" + timestamp.encode() + b":" + body
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def check_headers(timestamp: str | None, given: str | None, now: float) -> None:
    """What can be checked before the body is read: both headers, a fresh timestamp."""
    if not timestamp or not given:
        raise WebhookRefused(
            401, "missing_signature", "X-CIO-Timestamp and X-CIO-Signature are required"
        )
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise WebhookRefused(401, "invalid_timestamp", "X-CIO-Timestamp must be unix seconds")
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        raise WebhookRefused(
            401, "stale_timestamp", "X-CIO-Timestamp is more than 5 minutes from the host's clock"
        )


def verify(key: str, timestamp: str | None, given: str | None, body: bytes, now: float) -> None:
    """Raise `WebhookRefused` (401) unless the body is signed with `key` and fresh."""
    check_headers(timestamp, given, now)
    assert timestamp is not None and given is not None
    expected = signature(key, timestamp, body)
    if not hmac.compare_digest(given.strip().lower().encode(), expected.encode()):
        raise WebhookRefused(401, "invalid_signature", "X-CIO-Signature does not match the body")


def event_name(object_type: str, metric: str) -> str:
    what = OBJECTS.get(object_type, object_type.replace("_", " ").title())
    how = METRICS.get(metric, metric.replace("_", " ").title())
    return f"{what} {how}"


def to_track_event(body: bytes, integration_id: str) -> dict[str, Any]:
    """The canonical track event a verified webhook becomes (SPEC 9), or `WebhookRefused`
    (400) naming what is missing."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookRefused(400, "malformed_json", "the webhook body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookRefused(400, "invalid_webhook", "the webhook body must be a JSON object")
    for field in ("event_id", "object_type", "metric"):
        if not isinstance(payload.get(field), str) or not payload[field].strip():
            raise WebhookRefused(400, "invalid_webhook", f"the webhook has no {field}")
    data: dict[str, Any] = payload["data"] if isinstance(payload.get("data"), dict) else {}
    found = data.get("identifiers")
    identifiers: dict[str, Any] = found if isinstance(found, dict) else {}
    user = data.get("customer_id") or identifiers.get("id")
    email = identifiers.get("email") or data.get("email_address") or data.get("recipient")
    properties: dict[str, Any] = {
        "metric": payload["metric"],
        "object_type": payload["object_type"],
        **data,
    }
    if isinstance(email, str) and "email" not in properties:
        properties["email"] = email
    event: dict[str, Any] = {
        "type": "track",
        "messageId": payload["event_id"],
        "event": event_name(payload["object_type"], payload["metric"]),
        "properties": properties,
        "context": {"source": {"type": SOURCE, "integration_id": integration_id}},
    }
    if isinstance(user, str | int) and not isinstance(user, bool) and str(user).strip():
        event["userId"] = str(user)
    if isinstance(payload.get("timestamp"), int | float):
        event["timestamp"] = payload["timestamp"]
    return event
