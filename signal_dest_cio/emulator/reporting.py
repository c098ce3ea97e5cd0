"""Reporting webhooks out: what Customer.io would post about the emails the emulator sent.

For each transactional send the state knows, the emulator can make the webhook of an
email metric (`delivered`, `opened`, `clicked`, `bounced`, `converted`,
`unsubscribed`, ...) shaped as `reporting-webhooks.openapi.json` describes it:

    {"event_id": <a fresh ULID>, "object_type": "email", "metric": "opened",
     "timestamp": <unix seconds>, "data": {"transactional_message_id", "delivery_id",
     "customer_id", "identifiers": {"id", "email", "cio_id"}, "recipient", "subject",
     "href" and "link_id" (clicked), "failure_message" (bounced, dropped, failed, ...)}}

`identifiers` are the person's as they are now (null when unset; as the send named
them when the person is gone, and then `customer_id` is blank, as Customer.io
blanks it for a deleted person). Each body is signed as Customer.io signs it:
`X-CIO-Timestamp` (unix seconds) and `X-CIO-Signature`, the hex HMAC-SHA256 of
`v0:<timestamp>:<body>` under the webhook signing key (reimplemented here: the
emulator imports nothing of the destination).

`post_webhooks` sends them, in order, to a loopback URL only, with Customer.io's
4-second timeout. Customer.io holds every later webhook behind one that failed (a
non-2xx answer, or none), and so does the emulator: the rest are not sent.
Deliveries known only from `POST /api/v1/metrics` get no webhooks: they name no
person and no message.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import ipaddress
import json
import os
from typing import Literal, Self

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .people import WorkspaceData
from .records import JsonObject, Send

EmailMetric = Literal[
    "drafted",
    "attempted",
    "sent",
    "delivered",
    "opened",
    "clicked",
    "converted",
    "unsubscribed",
    "bounced",
    "dropped",
    "spammed",
    "failed",
    "undeliverable",
]
FAILURES = {
    "attempted": "the recipient's server did not answer; will retry",
    "bounced": "550 5.1.1 mailbox unavailable",
    "dropped": "the recipient is suppressed",
    "failed": "the message could not be rendered",
    "undeliverable": "the recipient has no valid address",
}
TIMEOUT_SECONDS = 4.0  # how long Customer.io waits for a webhook's answer
MAX_EVENTS = 1000
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
Webhook = tuple[dict[str, str], bytes]  # (headers, body), ready to POST


class WebhookEvent(BaseModel):
    """One webhook to make: a metric of one send (`href`, `link_id`, `failure_message`
    default to made-up values where the metric needs them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: EmailMetric
    delivery_id: str = Field(min_length=1, max_length=200)
    href: str | None = Field(default=None, min_length=1, max_length=2000)
    link_id: int | None = Field(default=None, ge=0)
    failure_message: str | None = Field(default=None, min_length=1, max_length=1000)


class WebhookOrder(BaseModel):
    """`POST /_emulator/workspaces/{site_id}/reporting-webhooks`: where to post, the key to
    sign with, and either `events` or one `metric` for every send of the workspace."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2000)
    signing_key: str = Field(min_length=1, max_length=1000, repr=False)
    events: list[WebhookEvent] | None = Field(default=None, min_length=1, max_length=MAX_EVENTS)
    metric: EmailMetric | None = None

    @field_validator("url")
    @classmethod
    def _loopback_url(cls, value: str) -> str:
        check_loopback_url(value)
        return value

    @model_validator(mode="after")
    def _events_or_metric(self) -> Self:
        if (self.events is None) == (self.metric is None):
            raise ValueError("give `events` (a list) or `metric` (for every send), not both")
        return self


def check_loopback_url(url: str) -> None:
    """Raise ValueError unless `url` is http(s) to localhost or a loopback address."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise ValueError(f"not a URL: {error}") from None
    host = parsed.host
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parsed.scheme not in ("http", "https") or not loopback:
        raise ValueError("the emulator posts webhooks to http(s) loopback URLs only")


def new_event_id(now: float) -> str:
    """A ULID: 48 bits of milliseconds, 80 random bits, Crockford base32 (26 characters)."""
    number = (int(now * 1000) & (2**48 - 1)) << 80 | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(number >> shift) & 31] for shift in range(125, -1, -5))


def signature(key: str, timestamp: str, body: bytes) -> str:
    """The `X-CIO-Signature` of `body` at `timestamp` (hex HMAC-SHA256 of `v0:ts:body`)."""
    message = b"v0:" + timestamp.encode() + b":" + body
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def events_for(
    data: WorkspaceData, events: list[WebhookEvent] | None, metric: EmailMetric | None
) -> list[WebhookEvent]:
    """The webhooks asked for; ValueError naming a delivery id that is no send of ours."""
    if events is None:
        assert metric is not None, "give events or a metric"
        return [WebhookEvent(metric=metric, delivery_id=d) for d in data.sends]
    unknown = sorted({e.delivery_id for e in events if e.delivery_id not in data.sends})
    if unknown:
        raise ValueError(f"no transactional send with delivery_id {', '.join(unknown)}")
    return events


def webhook_body(
    data: WorkspaceData, event: WebhookEvent, event_id: str, timestamp: int
) -> JsonObject:
    send: Send = data.sends[event.delivery_id]
    person = data.people.get(send.cio_id)
    if person is not None:
        identifiers = {"id": person.id, "email": person.email, "cio_id": person.cio_id}
    else:  # gone: as the send named them
        given = send.identifiers
        identifiers = {"id": given.get("id"), "email": given.get("email"), "cio_id": send.cio_id}
    found: JsonObject = {
        "transactional_message_id": send.template.id,
        "delivery_id": send.delivery_id,
        "customer_id": (person.id or "") if person is not None else "",
        "identifiers": identifiers,
        "recipient": _address(send.to),
        "subject": send.subject,
    }
    if event.metric == "clicked":
        found["href"] = event.href or "https://example.com/"
        found["link_id"] = event.link_id if event.link_id is not None else 1
    if event.metric in FAILURES:
        found["failure_message"] = event.failure_message or FAILURES[event.metric]
    return {
        "event_id": event_id,
        "object_type": "email",
        "metric": event.metric,
        "timestamp": timestamp,
        "data": found,
    }


def signed(body: JsonObject, signing_key: str, timestamp: int) -> Webhook:
    raw = json.dumps(body, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "X-CIO-Timestamp": str(timestamp),
        "X-CIO-Signature": signature(signing_key, str(timestamp), raw),
    }
    return headers, raw


async def post_webhooks(
    url: str, webhooks: list[Webhook], transport: httpx.AsyncBaseTransport | None = None
) -> list[JsonObject]:
    """POST each webhook in order; after a failure the rest are held (not sent).

    Each result is `{"event_id", "metric", "delivery_id", "status"}` (`status` the
    answer's, or null), with `"error"` when none came and `"held": true` when not sent.
    """
    check_loopback_url(url)
    results: list[JsonObject] = []
    failed = False
    timeout = httpx.Timeout(TIMEOUT_SECONDS)
    async with httpx.AsyncClient(timeout=timeout, transport=transport) as client:
        for headers, body in webhooks:
            sent = json.loads(body)
            result: JsonObject = {
                "event_id": sent["event_id"],
                "metric": sent["metric"],
                "delivery_id": sent["data"]["delivery_id"],
                "status": None,
            }
            if failed:
                result["held"] = True
            else:
                try:
                    answer = await client.post(url, content=body, headers=headers)
                    result["status"] = answer.status_code
                    failed = not answer.is_success
                except httpx.HTTPError as error:
                    result["error"] = type(error).__name__
                    failed = True
            results.append(result)
    return results


def _address(to: str) -> str:
    """The first address of a `to` like `"Ada" <ada@example.com>, bob@example.com`."""
    found = email.utils.getaddresses([to])
    return found[0][1] if found and found[0][1] else to
