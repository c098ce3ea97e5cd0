"""Properties of the pure pipeline: any JSON in, an outcome out, and valid requests."""

from __future__ import annotations

import copy
import json
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi import validate_request, validate_v2_item
from support import SNAKE_CASE, make_config

from signal_dest_cio.events import EVENT_TYPES
from signal_dest_cio.identity import identifiers_for
from signal_dest_cio.mapping import map_event
from signal_dest_cio.operations import Mapped, Refused
from signal_dest_cio.render import (
    MAX_ITEM_BYTES,
    encode_body,
    has_v2_item,
    only_as_v2_item,
    render_v1,
    render_v2,
)
from signal_dest_cio.text import encoding_problem, exact_problem
from signal_dest_cio.timestamps import convert_iso_dates

CONFIGS = [
    make_config(),
    make_config(api="v1", page_name="name", identify_on_track=True, convert_timestamps=False),
    make_config(respect_consent=False, default_object_type_id="7"),
]
MANY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
json_objects = st.dictionaries(st.text(max_size=12), json_values, max_size=6)

# Identifiers full of what paths must escape: '/', '@', '%', spaces, unicode.
tricky_text = st.text(
    st.sampled_from("ab/@%. +?#&é中😀_-~:cio") | st.characters(codec="utf-8"),
    min_size=1,
    max_size=20,
)
identifiers = (
    tricky_text
    | st.text(min_size=40, max_size=160)
    | st.builds(lambda local, domain: f"{local}@{domain}.io", tricky_text, tricky_text)
    | st.builds(lambda rest: f"cio_{rest}", tricky_text)
    | st.integers(min_value=0, max_value=10**12)
)
times = st.one_of(
    st.integers(min_value=0, max_value=4_000_000_000),
    st.integers(min_value=10**11 + 1, max_value=4_000_000_000_000),
    st.floats(min_value=0, max_value=4e9),
    st.datetimes(timezones=st.timezones() | st.none()).map(lambda d: d.isoformat()),
    st.sampled_from(["", "yesterday", "2024-02-30T00:00:00Z", "2024-01-01T10:00:00.123456789Z"]),
)
# Free-form attribute and property names. The names the published file types
# (identify `email`/`id`/`unsubscribed`..., event data `recipient`/`from_address`/
# `reply_to`) are left out: the mapper passes values through, and a wrong type
# there is the sender's data problem, not a mapping one.
attribute_names = st.text(max_size=12).filter(
    lambda name: (
        name not in {"email", "id", "created_at", "_timestamp", "_update", "unsubscribed"}
        and not name.startswith("cio_")
        and name not in {"recipient", "from_address", "reply_to"}
    )
)
free_objects = st.dictionaries(attribute_names, json_values, max_size=5)
dates = st.dates().map(str) | st.datetimes().map(lambda d: d.isoformat() + "Z")
traits = st.fixed_dictionaries(
    {},
    optional={
        "email": tricky_text | st.builds(lambda u: f"{u}@example.com", tricky_text),
        "createdAt": times,
        "plan": json_values,
        "signed_up": dates,
        "nested": st.fixed_dictionaries({"at": dates, "more": free_objects}),
        "userId": tricky_text,
        "anonymousId": tricky_text,
    },
).flatmap(lambda fixed: free_objects.map(lambda free: {**free, **fixed}))
maybe_blank = st.sampled_from([None, "", " "])
# Ids as events give them: text, numbers, blanks, and values that name nothing.
object_ids = identifiers | maybe_blank | st.sampled_from([True, 1.5, {"id": 1}, [], ".", ".."])
relationship_attributes = free_objects | json_values
# An identify's traits may relate the person to an object (SPEC 3.1).
identify_traits = traits.flatmap(
    lambda base: st.fixed_dictionaries(
        {},
        optional={
            "objectId": object_ids,
            "object_id": object_ids,
            "objectTypeId": object_ids,
            "relationshipAttributes": relationship_attributes,
            "relationship_attributes": relationship_attributes,
        },
    ).map(lambda extra: {**base, **extra})
)
# A group's traits are the object's, with the relationship's beside them.
group_traits = free_objects.flatmap(
    lambda base: st.fixed_dictionaries(
        {},
        optional={
            "email": tricky_text,
            "objectTypeId": object_ids,
            "object_type_id": object_ids,
            "relationshipAttributes": relationship_attributes,
        },
    ).map(lambda extra: {**base, **extra})
)
METRICS = {"delivered", "opened", "clicked", "converted", "bounced", "dropped", "failed"}
METRICS |= {"spammed", "deferred"}
METRIC_NAMES = ["delivered", "opened", "clicked", "converted", "bounced", "dropped", "failed"]
# What object, relationship and metric track events carry in their properties.
semantic_properties = st.fixed_dictionaries(
    {},
    optional={
        "objectId": object_ids,
        "groupId": object_ids,
        "objectTypeId": object_ids,
        "deliveryId": object_ids,
        "delivery_id": object_ids,
        "metric": st.sampled_from([*METRIC_NAMES, "Opened", " spammed ", "deferred", "x", ""])
        | json_scalars,
        # Event data types `recipient` as a string: other types only in metrics, below.
        "recipient": tricky_text,
        "reason": tricky_text,
        "href": tricky_text,
    },
).flatmap(lambda fixed: free_objects.map(lambda free: {**free, **fixed}))
LIFECYCLE_EVENTS = [
    "Application Installed",
    "Application Opened",
    "Application Uninstalled",
    "Device Created or Updated",
    "Device Deleted",
    "User Deleted",
    "User Suppressed",
    "User Unsuppressed",
    "Object Deleted",
    "Relationship Deleted",
    "Report Delivery Event",
]
contexts = st.fixed_dictionaries(
    {},
    optional={
        "traits": traits,
        "page": st.fixed_dictionaries(
            {}, optional={k: tricky_text for k in ("url", "path", "referrer", "search", "title")}
        ),
        "device": st.fixed_dictionaries(
            {
                "token": tricky_text,
                "type": st.sampled_from(["ios", "Android", "web", "iOS", "iPadOS", "IPADOS"]),
            },
            optional={"model": tricky_text},
        ),
        "os": st.fixed_dictionaries(
            {"name": st.sampled_from(["iOS", "Android", "Linux", "iPadOS", "ANDROID"])}
        ),
        "app": st.fixed_dictionaries({"version": tricky_text}),
        "locale": st.sampled_from(["en-US", "fr"]),
        "consent": st.sampled_from(
            [{}, {"marketing": True}, {"categories": ["marketing"]}, {"marketing": False}]
        ),
    },
)
long_names = st.text(min_size=90, max_size=120)
# What each type is about; blanks and None make the "missing ..." refusals likely too.
subjects: dict[str, dict[str, Any]] = {
    "identify": {},
    "track": {
        "event": st.one_of(st.sampled_from(LIFECYCLE_EVENTS), tricky_text, long_names, maybe_blank)
    },
    "page": {"name": st.one_of(tricky_text, long_names, maybe_blank)},
    "screen": {"name": st.one_of(tricky_text, maybe_blank)},
    "group": {"groupId": st.one_of(identifiers, maybe_blank)},
    "alias": {"previousId": st.one_of(identifiers, maybe_blank)},
}
payloads: dict[str, dict[str, Any]] = {
    "identify": {"traits": identify_traits},
    "track": {
        "properties": st.one_of(
            free_objects,
            st.fixed_dictionaries({"email": tricky_text, "at": dates, "x": free_objects}),
            semantic_properties,
        )
    },
    "page": {
        "properties": st.fixed_dictionaries(
            {}, optional={"url": tricky_text, "title": tricky_text, "when": dates}
        ),
    },
    "screen": {"properties": free_objects},
    "group": {"traits": group_traits},
    "alias": {},
}
envelope = {
    "messageId": tricky_text,
    "timestamp": times,
    "originalTimestamp": times,
    "receivedAt": times,
}


@st.composite
def canonical_events(draw: st.DrawFn) -> dict[str, Any]:
    """A plausible Signal event of any type: known, email-only, anonymous or nobody."""
    kind = draw(st.sampled_from(sorted(subjects)))
    event = draw(
        st.fixed_dictionaries(
            {"type": st.just(kind), "context": contexts, **subjects[kind]},
            optional=envelope | payloads[kind],
        )
    )
    who = draw(
        st.sampled_from(["user", "email", "anonymous", "anonymous", "user+anonymous", "none"])
    )
    if "user" in who:
        event["userId"] = draw(identifiers)
    if "anonymous" in who:
        event["anonymousId"] = draw(tricky_text)
        event["context"].get("traits", {}).pop("email", None)
    if who == "email":
        event["userId"] = draw(maybe_blank)
        event["traits"] = {**event.get("traits", {}), "email": draw(tricky_text) + "@x.io"}
    if draw(st.booleans()):
        event = {SNAKE_CASE.get(key, key): value for key, value in event.items()}
    return event


KNOWN_CODES = {
    "malformed_json",
    "invalid_event",
    "unsupported_type",
    "consent_denied",
    "missing_identifier",
    "identifier_too_long",
    "missing_event_name",
    "missing_page_name",
    "missing_group_id",
    "missing_device_token",
    "invalid_device_platform",
    "payload_too_large",
    "invalid_text",
    "invalid_identifier",
    "invalid_value",
    "missing_object_id",
    "missing_delivery_id",
    "invalid_metric",
}


def _check_encodes(result: Mapped | Refused) -> None:
    """What the client sends and the host stores encodes as UTF-8 JSON, never raising."""
    if isinstance(result, Refused):
        _compact([result.code, result.message, result.field, result.message_id])
        return
    for op in result.operations:
        body = render_v1(op).json
        if body is not None:
            encode_body(body, op)
        if has_v2_item(op):
            encode_body(render_v2(op), op)
        _compact([result.message_id, list(result.warnings)])


def _check_outcome(result: Mapped | Refused) -> None:
    """A Mapped event's requests all validate; a Refused one says why in known terms."""
    _check_encodes(result)
    if isinstance(result, Refused):
        assert result.code in KNOWN_CODES, result
        assert result.kind == ("filtered" if result.code == "consent_denied" else "rejected")
        assert result.message
        return
    assert isinstance(result, Mapped), result
    assert result.operations
    for op in result.operations:
        request = render_v1(op)
        validate_request(request.method, request.path, request.json)
        if request.path.startswith("/api/v1/customers/"):
            assert op.person is not None
            segments = request.path.split("/")
            assert segments[4] == quote(op.person.value, safe="")
            if op.device is not None:
                assert segments[-1] in ("devices", quote(op.device.token, safe=""))
        if not has_v2_item(op):  # a metric: the same v1 request in both modes
            assert request.path == "/api/v1/metrics"
            continue
        item = render_v2(op)
        validate_v2_item(item)
        if only_as_v2_item(op):  # nothing to fall back to: the mapper measured it
            assert request.path == "/api/v2/entity" and request.json == item
            assert len(encode_body(item, op)) <= MAX_ITEM_BYTES


@MANY
@given(event=json_objects | json_values, config=st.sampled_from(CONFIGS))
def test_any_json_value_becomes_an_outcome_never_an_exception(event: Any, config: Any) -> None:
    _check_outcome(map_event(event, config))


@MANY
@given(
    event=st.tuples(json_objects, st.sampled_from(EVENT_TYPES)).map(
        lambda pair: {**pair[0], "type": pair[1]}
    ),
    config=st.sampled_from(CONFIGS),
)
def test_any_object_with_a_known_type_becomes_an_outcome(event: Any, config: Any) -> None:
    _check_outcome(map_event(event, config))


@MANY
@given(event=canonical_events(), config=st.sampled_from(CONFIGS))
def test_every_mapped_event_renders_requests_the_track_api_accepts(
    event: dict[str, Any], config: Any
) -> None:
    _check_outcome(map_event(event, config))


# --- Objects, relationships, metrics and devices (SPEC 3.1) ------------------------

SEMANTIC_TRACKS = [
    "Object Deleted",
    "Relationship Deleted",
    "Report Delivery Event",
    "Application Installed",
    "Application Opened",
    "Application Uninstalled",
    "Device Created or Updated",
    "Device Deleted",
]


def mostly(good: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> Any:
    """`good` three times in four, else `other` (one_of alone would weigh every branch
    of a nested one_of the same)."""
    return st.integers(0, 3).flatmap(lambda pick: good if pick else other)


# Mostly well-formed, so that every operation is made often; sometimes anything at all.
plain_ids = st.from_regex(r"[a-z0-9_-]{1,24}", fullmatch=True)
good_ids = mostly(plain_ids | identifiers, object_ids)
device_contexts = st.fixed_dictionaries(
    {
        "device": st.fixed_dictionaries(
            {"token": mostly(plain_ids | tricky_text, maybe_blank | st.just(".."))},
            optional={
                "type": mostly(
                    st.sampled_from(["iOS", "ipados", "ANDROID", "Android"]),
                    st.sampled_from(["web", "", "tvOS"]) | json_scalars,
                ),
                "model": tricky_text | json_scalars,
            },
        ),
    },
    optional={
        "os": st.fixed_dictionaries(
            {},
            optional={
                "name": st.sampled_from(["iPadOS", "Android", "Windows"]) | json_scalars,
                "version": tricky_text,
            },
        ),
        "app": st.fixed_dictionaries({}, optional={"version": tricky_text | json_scalars}),
        "locale": tricky_text | json_scalars,
        "traits": st.fixed_dictionaries({}, optional={"email": tricky_text}),
    },
)
object_properties = st.fixed_dictionaries(
    {"objectId": good_ids},
    optional={
        "groupId": good_ids,
        "objectTypeId": object_ids,
        "object_type_id": object_ids,
    },
)
metric_properties = st.fixed_dictionaries(
    {
        "deliveryId": good_ids,
        "metric": mostly(
            st.sampled_from([*METRIC_NAMES, "SPAMMED", " deferred"]),
            st.sampled_from(["sent", "", "opened!"]) | json_scalars,
        ),
    },
    optional={
        "recipient": tricky_text | json_scalars,
        "reason": tricky_text | json_scalars,
        "href": tricky_text,
    },
)
track_properties = {
    "Object Deleted": object_properties,
    "Relationship Deleted": object_properties,
    "Report Delivery Event": metric_properties,
}


@st.composite
def object_metric_device_events(draw: st.DrawFn) -> dict[str, Any]:
    """A group, an identify relating its person to an object, or a track of SPEC 3.1's
    semantic names, with ids and fields of every shape."""
    kind = draw(st.sampled_from(["group", "identify", "track", "track", "track"]))
    event: dict[str, Any] = {"type": kind, "context": draw(device_contexts)}
    if kind == "group":
        event["groupId"] = draw(good_ids)
        event["traits"] = draw(group_traits)
    elif kind == "identify":
        event["traits"] = draw(identify_traits)
        if draw(st.booleans()):
            event["traits"]["objectId"] = draw(good_ids)
    else:
        event["event"] = name = draw(st.sampled_from(SEMANTIC_TRACKS))
        properties = track_properties.get(name, free_objects)
        event["properties"] = {**draw(free_objects), **draw(properties)}
    for key, values in (("userId", plain_ids | identifiers), ("anonymousId", tricky_text)):
        if draw(st.integers(0, 3)):
            event[key] = draw(values)
    event.update(draw(st.fixed_dictionaries({}, optional=envelope)))
    return event


@MANY
@given(event=object_metric_device_events(), config=st.sampled_from(CONFIGS))
def test_any_object_relationship_metric_or_device_event_maps_to_valid_requests(
    event: dict[str, Any], config: Any
) -> None:
    result = map_event(event, config)

    _check_outcome(result)  # Mapped or Refused; every body valid against the Track API
    if not isinstance(result, Mapped):
        return
    for op in result.operations:
        if op.action == "report_metric":
            assert op.attributes is not None
            assert op.attributes["metric"] in METRICS
            assert isinstance(op.attributes["delivery_id"], str)
        if op.action in ("object_identify", "object_identify_anonymous", "object_delete"):
            assert op.object_id and op.object_type_id
        if op.device is not None and op.action == "add_device":
            assert op.device.platform in ("ios", "android")


@MANY
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=45),
    where=st.sampled_from(["group", "group relationship", "identify relationship"]),
    config=st.sampled_from(CONFIGS),
)
def test_an_only_v2_item_is_sent_exactly_when_it_fits_32_kb(
    sizes: list[int], where: str, config: Any
) -> None:
    values = {f"k{index}": "v" * size for index, size in enumerate(sizes)}
    related = {"object_type_id": config.default_object_type_id, "object_id": "g"}
    if where == "identify relationship":
        event = {"type": "identify", "userId": "u", "traits": {"objectId": "g", **values}}
        item = {
            "type": "person",
            "identifiers": {"id": "u"},
            "action": "identify",
            "attributes": values,
            "timestamp": 1_700_000_000,
            "cio_relationships": [{"identifiers": related}],
        }
    else:
        relationship = where == "group relationship"
        traits = {"relationshipAttributes": values} if relationship else values
        event = {"type": "group", "userId": "u", "groupId": "g", "traits": traits}
        entry: dict[str, Any] = {"identifiers": {"id": "u"}}
        if relationship and values:
            entry["relationship_attributes"] = values
        item = {
            "type": "object",
            "identifiers": related,
            "action": "identify",
            "attributes": {} if relationship else values,
            "cio_relationships": [entry],
        }
    result = map_event(event | {"timestamp": 1_700_000_000}, config)

    if len(_compact(item)) <= MAX_ITEM_BYTES:
        assert isinstance(result, Mapped), result
        (op,) = result.operations
        assert render_v2(op) == item
    else:
        assert isinstance(result, Refused), result
        assert result.code == "payload_too_large"
        assert str(MAX_ITEM_BYTES) in result.message


TIME_KEYS = {"timestamp", "originalTimestamp", "original_timestamp", "receivedAt"}


@MANY
@given(event=canonical_events(), config=st.sampled_from(CONFIGS))
def test_a_replayed_message_gets_the_same_dedup_ids(event: dict[str, Any], config: Any) -> None:
    if not set(event) & TIME_KEYS:
        event["receivedAt"] = "2024-01-01T12:00:00Z"  # as the host stamps every event
    first = map_event(event, config)
    replay = map_event(json.dumps(event), config)

    assert type(first) is type(replay)
    if isinstance(first, Mapped) and isinstance(replay, Mapped) and first.message_id:
        assert first == replay


@MANY
@given(
    message_ids=st.lists(
        tricky_text.map(str.strip).filter(bool), min_size=2, max_size=2, unique=True
    ),
    when=times,
)
def test_different_message_ids_get_different_dedup_ids(message_ids: list[str], when: Any) -> None:
    ids = set()
    for message_id in message_ids:
        event = {"type": "track", "userId": "u", "event": "E", "messageId": message_id}
        result = map_event(event | {"timestamp": when}, CONFIGS[0])
        assert isinstance(result, Mapped)
        ids.add(result.operations[0].event_id)

    assert len(ids) == 2


@MANY
@given(value=identifiers.map(str))
def test_an_identifier_never_lands_in_a_path_unencoded(value: str) -> None:
    value = value.strip()
    event = {"type": "track", "userId": value, "event": "Clicked", "messageId": "m"}
    result = map_event(event, CONFIGS[0])

    if isinstance(result, Mapped):
        (op,) = result.operations
        assert render_v1(op).path == f"/api/v1/customers/{quote(value, safe='')}/events"
        assert render_v2(op)["identifiers"] == identifiers_for(value)
    elif value in (".", ".."):
        assert (result.code, result.field) == ("invalid_identifier", "user_id")
    else:
        assert result.code == ("missing_identifier" if not value else "identifier_too_long")


def _compact(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


@MANY
@given(event=canonical_events(), config=st.sampled_from(CONFIGS))
def test_encoded_bodies_are_the_rendered_bodies_byte_for_byte(
    event: dict[str, Any], config: Any
) -> None:
    # The client sends encode_body(); it splices in the data the mapper already encoded.
    result = map_event(event, config)
    if isinstance(result, Mapped):
        for op in result.operations:
            if not has_v2_item(op):
                continue
            item = render_v2(op)
            assert encode_body(item, op) == _compact(item)
            body = render_v1(op).json
            if body is not None:
                assert encode_body(body, op) == _compact(body)


@MANY
@given(
    properties=free_objects
    | st.fixed_dictionaries({"at": dates, "list": st.lists(dates, max_size=2), "x": free_objects})
    | st.sampled_from([{"arabic_digits": "٢٠٢٤-01-02"}, {"near": ["2024-1-1", '"2024-x']}])
)
def test_event_data_is_the_properties_with_dates_converted_and_encoded(
    properties: dict[str, Any],
) -> None:
    event = {"type": "track", "userId": "u", "event": "E", "properties": properties}
    result = map_event(event, CONFIGS[0])

    assert isinstance(result, Mapped)
    (op,) = result.operations
    assert op.attributes == convert_iso_dates(properties)
    assert op.attributes is not properties
    assert op.data_json == _compact(op.attributes)


# --- Any text at all: lone surrogates (category Cs) included on purpose -----------

# `st.characters()` leaves surrogates (category Cs) out unless told, and even then
# draws them rarely: half of `any_text` is built around one so that they are common.
any_characters = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
# The block's edges too: high (D800-DBFF) and low (DC00-DFFF) surrogates alike.
lone_surrogates = st.characters(categories=["Cs"]) | st.sampled_from("\ud800\udbff\udc00\udfff")
any_text = st.text(any_characters, max_size=12) | st.tuples(
    st.text(any_characters, max_size=5), lone_surrogates, st.text(any_characters, max_size=5)
).map("".join)
wild_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(any_text, children, max_size=3)
    ),
    max_leaves=12,
)
FIELDS = ["userId", "anonymousId", "messageId", "event", "name", "groupId", "previousId"]
wild_events = st.fixed_dictionaries(
    {"type": st.sampled_from(EVENT_TYPES)},
    optional={
        **{name: any_text for name in FIELDS},
        "traits": st.dictionaries(any_text, wild_values, max_size=4),
        "properties": st.dictionaries(any_text, wild_values, max_size=4),
        "context": st.fixed_dictionaries(
            {},
            optional={
                "traits": st.dictionaries(any_text, wild_values, max_size=3),
                "device": st.fixed_dictionaries({"token": any_text, "type": any_text}),
                "page": st.fixed_dictionaries({"url": any_text, "title": any_text}),
                "ip": any_text,
            },
        ),
    },
).flatmap(lambda fixed: st.dictionaries(any_text, wild_values, max_size=2).map(fixed.__or__))


def _slots(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in `value`, outermost first."""
    found: list[tuple[Any, Any]] = []
    children = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in children:
        found.append((value, key))
        if isinstance(child, (dict, list)):
            found.extend(_slots(child))
    return found


@st.composite
def events_with_any_text(draw: st.DrawFn) -> dict[str, Any]:
    """A plausible event with up to three keys or values swapped for any text at all."""
    event = copy.deepcopy(draw(canonical_events()))  # sampled constants must stay intact
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        container, key = draw(st.sampled_from(_slots(event)))
        if isinstance(container, dict) and key not in container:
            continue  # renamed or replaced by an earlier swap
        if isinstance(container, dict) and draw(st.booleans()):
            container[draw(any_text)] = container.pop(key)
        else:
            container[key] = draw(any_text)
    return event


def _unencodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


def _first_lone_surrogate(value: Any, path: str = "") -> str | None:
    """Where, in document order, `value` first holds text UTF-8 cannot encode."""
    if isinstance(value, str):
        return path if _unencodable(value) else None
    if isinstance(value, dict):
        for key, child in value.items():
            written = key.encode("utf-8", "backslashreplace").decode() or '""'
            child_path = f"{path}.{written}" if path else written
            if _unencodable(key):
                return child_path
            if (found := _first_lone_surrogate(child, child_path)) is not None:
                return found
    elif isinstance(value, list):
        for index, child in enumerate(value):
            if (found := _first_lone_surrogate(child, f"{path}[{index}]")) is not None:
                return found
    return None


@MANY
@given(event=wild_events | events_with_any_text(), config=st.sampled_from(CONFIGS))
def test_any_text_anywhere_becomes_an_outcome_that_encodes(
    event: dict[str, Any], config: Any
) -> None:
    result = map_event(event, config)

    _check_encodes(result)
    if isinstance(result, Refused):
        assert result.code in KNOWN_CODES, result


@MANY
@given(event=wild_events | events_with_any_text(), config=st.sampled_from(CONFIGS))
def test_an_event_is_refused_as_invalid_text_exactly_when_it_holds_a_lone_surrogate(
    event: dict[str, Any], config: Any
) -> None:
    where = _first_lone_surrogate(event)
    result = map_event(event, config)

    if where is None:
        assert not (isinstance(result, Refused) and result.code == "invalid_text"), result
    else:
        assert isinstance(result, Refused), result
        assert (result.kind, result.code, result.field) == ("rejected", "invalid_text", where)


@MANY
@given(value=wild_values)
def test_the_cheap_text_check_agrees_with_the_exact_one(value: Any) -> None:
    # marshal's output holds numbers in binary: a chance surrogate-like byte pair there
    # must cost only the exact check, never a refusal.
    assert encoding_problem(value) == exact_problem(value)
