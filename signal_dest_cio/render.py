"""Pure: an operation -> a v1 request or a v2 item (SPEC section 3 tables).

Paths are relative to the Track API base URL; the client adds the host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .identity import Person
from .jsoncodec import dumps
from .operations import Device, Operation

JsonObject = dict[str, Any]

ENTITY_PATH = "/api/v2/entity"
BATCH_PATH = "/api/v2/batch"
METRICS_PATH = "/api/v1/metrics"
MAX_ITEM_BYTES = 32 * 1024  # what Customer.io takes as one v2 item

# What has no v1 form: objects and relationships. In v1 mode they go to the v2
# entity endpoint, one item; in v2 mode an oversized one has nothing to fall back to.
_OBJECT_ACTIONS = frozenset({"object_identify", "object_identify_anonymous", "object_delete"})
# What has no v2 item: it is a v1 request in both modes.
_V1_ONLY_ACTIONS = frozenset({"report_metric", "send_email"})
SEND_EMAIL_PATH = "/v1/send/email"
_ACTIVITIES = frozenset({"event", "page", "screen"})
_METRIC_FIELDS = ("delivery_id", "metric")


class NoV2Item(ValueError):
    """`render_v2` of an operation that only has a v1 request (`has_v2_item` is False)."""


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    json: JsonObject | None = None
    api: str = "track"  # "app": the App API (its host, its Bearer key, its pace)


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


def has_v2_item(op: Operation) -> bool:
    """False for an operation that is a v1 request in both api modes (a metric)."""
    return op.action not in _V1_ONLY_ACTIONS


def only_as_v2_item(op: Operation) -> bool:
    """True for what can only travel as a v2 item (`/api/v2/entity` in v1 mode): objects,
    relationships, and an identify that carries a relationship."""
    return (
        op.action in _OBJECT_ACTIONS
        or op.action == "delete_relationships"
        or (op.action == "identify" and op.object_id is not None)
    )


def v2_item_bytes(op: Operation) -> int:
    """The size of `op`'s v2 item as it goes over the wire."""
    return len(encode_body(render_v2(op), op))


def render_v1(op: Operation) -> Request:
    """The Track API v1 request for one operation.

    What has no v1 form (`only_as_v2_item`: objects, relationships, an identify
    relating the person to an object) uses the single-item v2 entity endpoint.
    A known person's screen is the v1 event with `type: "screen"`, as the mobile
    SDKs send it (the published schema's demand for anonymous_id there is a slip).
    """
    action = op.action
    if only_as_v2_item(op):
        return Request("POST", ENTITY_PATH, render_v2(op))
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
        if action == "screen" and op.anonymous_id:
            body["anonymous_id"] = op.anonymous_id
        return Request("POST", _customer(op.person, "/events"), body)
    if action == "send_email":  # an App API call, in the event's lane
        return Request("POST", SEND_EMAIL_PATH, dict(op.attributes or {}), api="app")
    if action == "report_metric":
        return Request("POST", METRICS_PATH, _metric_body(op))
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
    raise ValueError(f"unknown operation {action!r}")


def _metric_body(op: Operation) -> JsonObject:
    fields = dict(op.attributes or {})
    body = {key: fields.pop(key) for key in _METRIC_FIELDS if key in fields}
    if op.timestamp is not None:
        body["timestamp"] = op.timestamp
    body.update(fields)  # recipient, reason, href
    return body


def _person_identifiers(op: Operation) -> JsonObject:
    if op.person is not None:
        return op.person.identifiers
    return {"anonymous_id": op.anonymous_id}


def _object_identifiers(op: Operation) -> JsonObject:
    return {"object_type_id": op.object_type_id, "object_id": op.object_id}


def _relationship(identifiers: JsonObject, op: Operation) -> JsonObject:
    """One `cio_relationships` entry: who (or what) is related, and how."""
    entry: JsonObject = {"identifiers": identifiers}
    if op.relationship_attributes:
        entry["relationship_attributes"] = op.relationship_attributes
    return entry


def _render_object(op: Operation) -> JsonObject:
    item: JsonObject = {"type": "object", "identifiers": _object_identifiers(op)}
    if op.action == "object_delete":
        item["action"] = "delete"
        return item
    if op.action == "object_identify_anonymous":
        item["action"] = "identify_anonymous"
        related: JsonObject = {"anonymous_id": op.anonymous_id}
    else:
        assert op.person is not None
        item["action"] = "identify"
        related = op.person.identifiers
    item["attributes"] = op.attributes or {}
    item["cio_relationships"] = [_relationship(related, op)]
    return item


def render_v2(op: Operation) -> JsonObject:
    """The Track API v2 item (for /api/v2/batch or /api/v2/entity) for one operation.

    Raises `NoV2Item` for an operation that has none (`has_v2_item`).
    """
    action = op.action
    if action in _OBJECT_ACTIONS:
        return _render_object(op)
    if action in _V1_ONLY_ACTIONS:
        raise NoV2Item(f"{action} has no v2 item; it is sent as its v1 request")
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
        if op.object_id is not None:
            item["cio_relationships"] = [_relationship(_object_identifiers(op), op)]
    elif action == "delete_relationships":
        item["cio_relationships"] = [_relationship(_object_identifiers(op), op)]
    elif action in _ACTIVITIES:  # most items: the fields set by hand, not through pairs
        if op.event_id is not None:
            item["id"] = op.event_id
        if op.name is not None:
            item["name"] = op.name
        if op.timestamp is not None:
            item["timestamp"] = op.timestamp
        if op.attributes is not None:
            item["attributes"] = op.attributes
    elif action == "add_device":
        assert op.device is not None
        item["device"] = _device_body(op.device, "token")
    elif action == "delete_device":
        assert op.device is not None
        item["device"] = {"token": op.device.token}
    return item


def dump_json(value: Any) -> bytes:
    """A request body as it goes over the wire: compact JSON, UTF-8 (`jsoncodec.dumps`)."""
    return dumps(value)


def encode_body(body: JsonObject, op: Operation) -> bytes:
    """`dump_json(body)` for a body rendered from `op`, byte for byte.

    Event data was already encoded by the mapper (to measure it against the
    100,000-byte limit) and is most of an event's bytes: when the body holds it
    (`attributes` in v2, `data` in v1), those bytes are spliced in between the
    encoded keys around it instead of being encoded a second time.
    """
    data = op.data_json
    if data is not None:
        attributes = op.attributes
        for key, encoded_key in _DATA_KEYS.items():
            if key in body and body[key] is attributes:
                return _dump_with(body, key, encoded_key, data)
    return dumps(body)


_DATA_KEYS = {"attributes": b'"attributes":', "data": b'"data":'}


def _dump_with(body: JsonObject, key: str, encoded_key: bytes, data: bytes) -> bytes:
    """`dumps(body)` with `data` as the encoding of `body[key]`, pieces joined once."""
    if next(reversed(body)) == key:  # a v2 item ends with its data: one small dict to encode
        rest = dict(body)
        del rest[key]
        head = dumps(rest)[:-1] + b"," if rest else b"{"
        return b"".join((head, encoded_key, data, b"}"))
    keys = list(body)
    at = keys.index(key)
    head = dumps({name: body[name] for name in keys[:at]})[:-1] + b"," if at else b"{"
    tail = b"," + dumps({name: body[name] for name in keys[at + 1 :]})[1:]
    return b"".join((head, encoded_key, data, tail))


def render_preview(op: Operation, api: str) -> Request:
    """What `preview` shows: the v1 request, or in v2 mode the single-item entity form
    (a metric, which has no v2 item, shows its v1 request in both)."""
    if api == "v2" and has_v2_item(op):
        return Request("POST", ENTITY_PATH, render_v2(op))
    return render_v1(op)
