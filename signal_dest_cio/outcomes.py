"""The Outcome the host is told per event, and how HTTP responses are classified (SPEC 4)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

from .operations import Refused

OutcomeKind = Literal["delivered", "filtered", "rejected", "retry", "config_error"]

MAX_RETRY_AFTER_SECONDS = 300.0

# Worst first: an event with several requests takes the worst of their outcomes.
_SEVERITY: dict[str, int] = {
    "config_error": 4,
    "retry": 3,
    "rejected": 2,
    "filtered": 1,
    "delivered": 0,
}


class Outcome(BaseModel):
    """What happened to one event, and what the host should do about it."""

    model_config = ConfigDict(frozen=True)

    kind: OutcomeKind
    code: str
    message: str = ""
    status: int | None = None
    field: str | None = None
    retry_after: float | None = None
    message_id: str | None = None
    warnings: tuple[str, ...] = ()
    # The mapping rules (SPEC 12) whose actions made the requests; shown only when set,
    # so an integration without rules reports exactly what it always did.
    rules: tuple[str, ...] = ()

    @model_serializer(mode="wrap")
    def _rules_when_set(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if not self.rules and isinstance(data, dict):
            data.pop("rules", None)
        return data

    def as_json(self) -> dict[str, Any]:
        """`model_dump(mode="json")`, built by hand: a host turns every event's outcome into
        a dict to store it, and pydantic's serializer (with the wrap above) cost ~12 us."""
        data: dict[str, Any] = {
            "kind": self.kind,
            "code": self.code,
            "message": self.message,
            "status": self.status,
            "field": self.field,
            "retry_after": self.retry_after,
            "message_id": self.message_id,
            "warnings": list(self.warnings),
        }
        if self.rules:
            data["rules"] = list(self.rules)
        return data

    @classmethod
    def from_refused(cls, refused: Refused) -> Outcome:
        return cls(
            kind=refused.kind,
            code=refused.code,
            message=refused.message,
            field=refused.field,
            message_id=refused.message_id,
            warnings=refused.warnings,
        )


_validate_outcome = Outcome.__pydantic_validator__.validate_python


def for_event(outcome: Outcome, message_id: str | None, warnings: tuple[str, ...]) -> Outcome:
    """`outcome` (a request's, often shared by a batch's events) as one event's own.

    `model_copy(update=...)` gives the same, at nearly twice the cost; every delivered
    event goes through here."""
    values = {**outcome.__dict__, "message_id": message_id, "warnings": warnings}
    copied: Outcome = _validate_outcome(values)
    return copied


def worst(outcomes: list[Outcome]) -> Outcome:
    return max(outcomes, key=lambda outcome: _SEVERITY[outcome.kind])


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (seconds or HTTP date), capped at 300."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def error_message(body: bytes) -> str | None:
    """Customer.io's own words from an error body: meta.error, meta.errors[], errors[].message."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        return text[:500] or None
    if not isinstance(data, dict):
        return None
    meta = data.get("meta")
    parts: list[str] = []
    if isinstance(meta, dict):
        if isinstance(meta.get("error"), str):
            parts.append(meta["error"])
        if isinstance(meta.get("errors"), list):
            parts.extend(str(item) for item in meta["errors"])
    if isinstance(data.get("errors"), list):
        for item in data["errors"]:
            if isinstance(item, dict):
                parts.append(_v2_error_text(item))
    return "; ".join(part for part in parts if part) or None


def _v2_error_text(item: dict[str, Any]) -> str:
    message = str(item.get("message") or item.get("reason") or "invalid")
    field = item.get("field")
    return f"{field}: {message}" if field else message


_RETRY_CODES = {408: "timeout", 429: "rate_limited"}
_REJECT_CODES = {
    400: "bad_request",
    404: "not_found",
    413: "payload_too_large",
    422: "unprocessable",
    501: "not_implemented",
    505: "http_version_not_supported",
}


def classify_status(
    status: int, body: bytes = b"", retry_after: str | None = None, now: datetime | None = None
) -> Outcome:
    """The outcome of a whole response, before any per-item (207) or region detail."""
    text = error_message(body) if status >= 300 else None
    if 200 <= status < 300:
        return Outcome(kind="delivered", code="ok", status=status)
    if status in (401, 403):
        return Outcome(
            kind="config_error",
            code="invalid_credentials",
            status=status,
            message=text or "Customer.io refused the site_id and Track API key",
        )
    if 300 <= status < 400:
        return Outcome(
            kind="config_error",
            code="redirect_refused",
            status=status,
            message="Customer.io answered with a redirect; redirects are not followed",
        )
    if status in _RETRY_CODES or (status >= 500 and status not in _REJECT_CODES):
        return Outcome(
            kind="retry",
            code=_RETRY_CODES.get(status, "server_error"),
            status=status,
            message=text or f"Customer.io answered {status}; try again later",
            retry_after=parse_retry_after(retry_after, now),
        )
    return Outcome(
        kind="rejected",
        code=_REJECT_CODES.get(status, "client_error"),
        status=status,
        message=text or f"Customer.io refused the request with {status}",
    )


def transport_failure(code: str, message: str) -> Outcome:
    """A request that got no response: timeouts and connection errors are retried."""
    return Outcome(kind="retry", code=code, message=message)
