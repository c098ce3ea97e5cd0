"""Pure: an operation -> a v1 request or a v2 item (SPEC section 3 tables).

Paths are relative to the Track API base URL; the client adds the host.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .identity import Person
from .operations import Device, Operation

JsonObject = dict[str, Any]

ENTITY_PATH = "/api/v2/entity"
BATCH_PATH = "/api/v2/batch"

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    json: JsonObject | None = None


def _without_none(*pairs: tuple[str, Any]) -> JsonObject:
    # Pairs, not a dict to filter: one dict built per body instead of two.
    return {key: value for key, value in pairs if value is not None}


def _customer(person: Person | None, suffix: str = "") -> str:
    assert person is not None, "mapping guarantees a person here"
    return f"/api/v1/customers/{person.path}{suffix}"


def _device_body(device: Device, token_key: str) -> JsonObject:
    return _without_none(
        (token_key, device.token),
        ("platform", device.platform),
        ("last_used", device.last_used),
        ("attributes", device.attributes or None),
    )


def _activity_body(op: Operation) -> JsonObject:
    return _without_none(
        ("name", op.name),
        ("type", op.action),
        ("data", op.attributes),
        ("timestamp", op.timestamp),
        ("id", op.event_id),
    )


def render_v1(op: Operation) -> Request:
    """The Track API v1 request for one operation.

    Two operations have no v1 form the published schema accepts, so they use
    the single-item v2 entity endpoint: objects (group), and a screen view of
    a known person with no anonymous_id (the v1 screen body requires one).
    """
    action = op.action
    if action == "identify":
        body = dict(op.attributes or {})
        if op.timestamp is not None:
            body["_timestamp"] = op.timestamp
        return Request("PUT", _customer(op.person), body)
    if action in ("event", "page", "screen"):
        body = _activity_body(op)
        if op.person is None:
            body["anonymous_id"] = op.anonymous_id
            return Request("POST", "/api/v1/events", body)
        if action == "screen":
            if not op.anonymous_id:
                return Request("POST", ENTITY_PATH, render_v2(op))
            body["anonymous_id"] = op.anonymous_id
        return Request("POST", _customer(op.person, "/events"), body)
    if action == "add_device":
        assert op.device is not None
        return Request(
            "PUT", _customer(op.person, "/devices"), {"device": _device_body(op.device, "id")}
        )
    if action == "delete_device":
        assert op.device is not None
        return Request("DELETE", _customer(op.person, f"/devices/{Person(op.device.token).path}"))
    if action == "delete":
        return Request("DELETE", _customer(op.person))
    if action in ("suppress", "unsuppress"):
        return Request("POST", _customer(op.person, f"/{action}"))
    if action == "merge":
        assert op.person is not None and op.secondary is not None
        return Request(
            "POST",
            "/api/v1/merge_customers",
            {"primary": op.person.identifiers, "secondary": op.secondary.identifiers},
        )
    if action == "object_identify":
        return Request("POST", ENTITY_PATH, render_v2(op))
    raise ValueError(f"unknown operation {action!r}")


def _person_identifiers(op: Operation) -> JsonObject:
    if op.person is not None:
        return op.person.identifiers
    return {"anonymous_id": op.anonymous_id}


def render_v2(op: Operation) -> JsonObject:
    """The Track API v2 item (for /api/v2/batch or /api/v2/entity) for one operation."""
    action = op.action
    if action == "object_identify":
        assert op.person is not None
        return {
            "type": "object",
            "identifiers": {"object_type_id": op.object_type_id, "object_id": op.object_id},
            "action": "identify",
            "attributes": op.attributes or {},
            "cio_relationships": [{"identifiers": op.person.identifiers}],
        }
    if action == "merge":
        assert op.person is not None and op.secondary is not None
        return {
            "type": "person",
            "action": "merge",
            "primary": op.person.identifiers,
            "secondary": op.secondary.identifiers,
        }
    item: JsonObject = {"type": "person", "identifiers": _person_identifiers(op), "action": action}
    if action == "identify":
        item["attributes"] = op.attributes or {}
        if op.timestamp is not None:
            item["timestamp"] = op.timestamp
    elif action in ("event", "page", "screen"):
        item.update(
            _without_none(
                ("id", op.event_id),
                ("name", op.name),
                ("timestamp", op.timestamp),
                ("attributes", op.attributes),
            )
        )
    elif action == "add_device":
        assert op.device is not None
        item["device"] = _device_body(op.device, "token")
    elif action == "delete_device":
        assert op.device is not None
        item["device"] = {"token": op.device.token}
    return item


def dump_json(value: Any) -> bytes:
    """A request body as it goes over the wire: compact JSON, UTF-8."""
    return _ENCODER.encode(value).encode()


def encode_body(body: JsonObject, op: Operation) -> bytes:
    """`dump_json(body)` for a body rendered from `op`, byte for byte.

    Event data was already encoded by the mapper (to measure it against the
    100,000-byte limit) and is most of an event's bytes: when the body holds it
    (`attributes` in v2, `data` in v1), those bytes are spliced in between the
    encoded keys around it instead of being encoded a second time.
    """
    if op.data_json is not None:
        for key, encoded_key in _DATA_KEYS.items():
            if body.get(key) is op.attributes:
                return _dump_with(body, key, encoded_key + op.data_json)
    return dump_json(body)


_DATA_KEYS = {"attributes": b'"attributes":', "data": b'"data":'}


def _dump_with(body: JsonObject, key: str, pair: bytes) -> bytes:
    keys = list(body)
    at = keys.index(key)
    before, after = keys[:at], keys[at + 1 :]
    # The v2 item ends with its data, so the common case encodes one small dict.
    head = dump_json({name: body[name] for name in before})[:-1] + b"," if before else b"{"
    tail = b"," + dump_json({name: body[name] for name in after})[1:] if after else b"}"
    return head + pair + tail


def render_preview(op: Operation, api: str) -> Request:
    """What `preview` shows: the v1 request, or in v2 mode the single-item entity form."""
    if api == "v2":
        return Request("POST", ENTITY_PATH, render_v2(op))
    return render_v1(op)
