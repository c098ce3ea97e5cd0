"""Shared helpers for the mapping and rendering tests (not a test module)."""

from __future__ import annotations

from typing import Any

from openapi import validate_request, validate_v2_item

from signal_dest_cio.config import CustomerIoConfig
from signal_dest_cio.operations import Mapped, Operation, Refused
from signal_dest_cio.render import Request, render_v1, render_v2

JsonObject = dict[str, Any]


def make_config(**options: Any) -> CustomerIoConfig:
    return CustomerIoConfig(
        site_id="site", tracking_api_key="track-key", api_key="app-key", region="us", **options
    )


def checked_v1(op: Operation) -> Request:
    """The v1 request for `op`, after asserting the Track API accepts it."""
    request = render_v1(op)
    validate_request(request.method, request.path, request.json)
    return request


def checked_v2(op: Operation) -> JsonObject:
    """The v2 item for `op`, after asserting it is valid alone and in a batch."""
    item = render_v2(op)
    validate_v2_item(item)
    return item


def v1_requests(mapped: Mapped) -> list[tuple[str, str, JsonObject | None]]:
    return [(r.method, r.path, r.json) for r in map(checked_v1, mapped.operations)]


def v2_items(mapped: Mapped) -> list[JsonObject]:
    return [checked_v2(op) for op in mapped.operations]


def ready(event: JsonObject, **options: Any) -> Mapped:
    """Map an event that must be sent; every request it becomes is schema-checked."""
    from signal_dest_cio.mapping import map_event

    result = map_event(event, make_config(**options))
    assert isinstance(result, Mapped), f"expected Mapped, got {result!r}"
    v1_requests(result)
    v2_items(result)
    return result


def refused(event: Any, **options: Any) -> Refused:
    from signal_dest_cio.mapping import map_event

    result = map_event(event, make_config(**options))
    assert isinstance(result, Refused), f"expected Refused, got {result!r}"
    return result


STATUS_OUTCOMES = [  # SPEC section 4: a response status -> (outcome kind, code)
    (200, "delivered", "ok"),
    (201, "delivered", "ok"),
    (204, "delivered", "ok"),
    (400, "rejected", "bad_request"),
    (404, "rejected", "not_found"),
    (409, "rejected", "client_error"),
    (413, "rejected", "payload_too_large"),
    (422, "rejected", "unprocessable"),
    (501, "rejected", "not_implemented"),
    (505, "rejected", "http_version_not_supported"),
    (408, "retry", "timeout"),
    (429, "retry", "rate_limited"),
    (500, "retry", "server_error"),
    (502, "retry", "server_error"),
    (503, "retry", "server_error"),
    (504, "retry", "server_error"),
    (401, "config_error", "invalid_credentials"),
    (403, "config_error", "invalid_credentials"),
]

SNAKE_CASE = {  # every camelCase canonical field and its snake_case twin
    "messageId": "message_id",
    "userId": "user_id",
    "anonymousId": "anonymous_id",
    "originalTimestamp": "original_timestamp",
    "groupId": "group_id",
    "previousId": "previous_id",
}
