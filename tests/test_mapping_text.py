"""Text an event may hold, and identifiers that can be path segments (SPEC section 3.1)."""

from __future__ import annotations

import dataclasses
import json
import struct
from typing import Any

import pytest
from support import JsonObject, make_config, ready, refused

from signal_dest_cio.events import TrackEvent
from signal_dest_cio.mapping import map_event
from signal_dest_cio.operations import Mapped, Refused
from signal_dest_cio.render import encode_body, render_v1, render_v2
from signal_dest_cio.text import encoding_problem, exact_problem

BAD = "\ud800"  # a lone surrogate: Python holds it, UTF-8 cannot encode it
TIME = "2024-01-01T12:00:00.123Z"


def track(**fields: Any) -> JsonObject:
    return {"type": "track", "event": "Bought", "userId": "u1", "timestamp": TIME} | fields


def identify(**fields: Any) -> JsonObject:
    return {"type": "identify", "userId": "u1", "timestamp": TIME} | fields


def encodes(result: Mapped | Refused) -> None:
    """What the host stores and shows of an outcome must encode as UTF-8 JSON."""
    json.dumps(dataclasses.asdict(result), ensure_ascii=False, default=str).encode()


# --- Text: a lone surrogate anywhere rejects the event, naming the place ---------


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (identify(traits={"name": f"Ann{BAD}"}), "traits.name"),
        (identify(traits={"tags": ["ok", BAD]}), "traits.tags[1]"),
        (identify(context={"traits": {"email": f"{BAD}@x.io"}}), "context.traits.email"),
        (track(properties={"items": [{"sku": "A"}, {"sku": BAD}]}), "properties.items[1].sku"),
        (track(properties={"deep": {"er": {"est": BAD}}}), "properties.deep.er.est"),
        (track(event=f"Bought{BAD}"), "event"),
        (track(userId=BAD), "userId"),
        (track(user_id=f"u{BAD}", userId=None), "user_id"),
        (track(userId=None, anonymousId=BAD), "anonymousId"),
        (track(messageId=BAD), "messageId"),
        ({"type": "group", "userId": "u1", "groupId": BAD}, "groupId"),
        ({"type": "alias", "userId": "u1", "previousId": BAD}, "previousId"),
        ({"type": "page", "userId": "u1", "name": BAD}, "name"),
        (track(context={"page": {"url": f"https://x.io/{BAD}"}}), "context.page.url"),
        (track(context={"device": {"token": BAD, "type": "ios"}}), "context.device.token"),
        (track(context={"device": {"token": "t", "model": BAD}}), "context.device.model"),
        (track(context={"app": {"version": BAD}}), "context.app.version"),
        # Never sent, and still not valid Unicode: the event is refused all the same.
        (track(context={"ip": BAD}), "context.ip"),
        (track(integrations={"All": BAD}), "integrations.All"),
        (track(timestamp=BAD), "timestamp"),
        ({"type": f"track{BAD}", "userId": "u1", "event": "E"}, "type"),
    ],
)
def test_a_lone_surrogate_anywhere_rejects_the_event_naming_the_field(
    event: JsonObject, field: str
) -> None:
    result = refused(event)

    assert (result.kind, result.code, result.field) == ("rejected", "invalid_text", field)
    assert result.message.startswith(f"{field} is not valid Unicode")
    encodes(result)


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (identify(traits={BAD: "x"}), "traits.\\ud800"),
        (track(properties={"a": {f"k{BAD}": 1}}), "properties.a.k\\ud800"),
        (track(**{f"extra{BAD}": 1}), "extra\\ud800"),
        (track(properties={"": BAD}), 'properties.""'),
    ],
)
def test_a_lone_surrogate_in_a_key_is_named_with_the_surrogate_escaped(
    event: JsonObject, field: str
) -> None:
    result = refused(event)

    assert (result.code, result.field) == ("invalid_text", field)
    assert field in result.message
    encodes(result)


def test_the_first_bad_place_in_document_order_is_named() -> None:
    event = track(properties={"a": "ok", "b": [1, {"c": BAD}], "d": BAD}, context={"ip": BAD})

    assert refused(event).field == "properties.b[1].c"


def test_the_message_id_stays_on_the_refusal_unless_it_is_the_bad_text() -> None:
    assert refused(track(messageId="m-1", properties={"a": BAD})).message_id == "m-1"
    assert refused(track(messageId=f"m{BAD}", properties={"a": BAD})).message_id is None


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(track(properties={"a": BAD})),  # json.dumps writes it as \ud800
        '{"type":"track","userId":"u1","event":"E","properties":{"a":"\\udfff"}}',
        b'{"type":"track","userId":"u1","event":"E","properties":{"a":"\\ud83d"}}',
    ],
)
def test_json_text_with_an_escaped_lone_surrogate_is_rejected(text: str | bytes) -> None:
    result = refused(text)

    assert (result.code, result.field) == ("invalid_text", "properties.a")


def test_a_parsed_event_holding_a_lone_surrogate_is_rejected_too() -> None:
    # model_validate skips parse_event's check; map_event must still catch it.
    event = TrackEvent.model_validate(track(properties={"a": BAD}))
    result = map_event(event, make_config())

    assert isinstance(result, Refused)
    assert (result.code, result.field) == ("invalid_text", "properties.a")


@pytest.mark.parametrize(
    "text",
    [
        "\U0001f600 emoji",  # astral: a surrogate pair in JSON escapes, one valid character here
        "한국어",  # Hangul is U+AC00..U+D7A3: UTF-8 starts with 0xED, but not a surrogate's
        "\ud7ff\ue000",  # just either side of the surrogate block
    ],
)
def test_valid_unicode_next_to_the_surrogates_is_sent(text: str) -> None:
    mapped = ready(track(event=text, properties={text: text}, context={"ip": text}))

    (op,) = mapped.operations
    assert op.name == text
    assert json.loads(encode_body(render_v2(op), op))["attributes"] == {text: text}


def test_numbers_whose_bytes_look_like_a_surrogate_are_not_text() -> None:
    # marshal writes numbers in binary; 0xED 0xA0 inside one is not a surrogate.
    price = struct.unpack("<d", b"\x00\x00\x00\xed\xa0\x00\xf0\x3f")[0]
    event = track(properties={"price": price, "count": 0xA0ED})

    mapped = ready(event)

    assert mapped.operations[0].attributes == {"price": price, "count": 0xA0ED}


# --- What JSON cannot carry, handed over from Python: refused, never raised ------


def _deep(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = {"a": [value]}
    return value


def test_nesting_too_deep_to_encode_is_rejected_naming_the_member() -> None:
    result = refused(track(properties={"x": _deep(3000)}))

    assert (result.code, result.field) == ("invalid_value", "properties")


def test_json_text_nested_too_deep_to_read_is_malformed() -> None:
    text = '{"type":"track","properties":{"x":' + "[" * 100_000 + "]" * 100_000 + "}}"

    assert refused(text).code == "malformed_json"


@pytest.mark.parametrize("make", [track, identify], ids=["properties", "traits"])
def test_a_circular_value_in_what_is_sent_is_refused_not_raised(make: Any) -> None:
    loop: JsonObject = {}
    loop["self"] = loop

    result = refused(make(properties={"loop": loop}, traits={"loop": loop}))

    assert (result.kind, result.code) == ("rejected", "invalid_value")


@pytest.mark.parametrize(
    ("value", "warning"),
    [
        ({1, 2}, "not_json"),
        (b"bytes", "not_json"),
        (10**5000, "value_over_1000_bytes"),
    ],
    ids=["set", "bytes", "huge_int"],
)
def test_python_values_json_cannot_carry_are_dropped_from_traits(value: Any, warning: str) -> None:
    mapped = map_event(identify(traits={"odd": value, "plan": "pro"}), make_config())

    assert isinstance(mapped, Mapped)
    assert f"attribute_dropped:traits.odd:{warning}" in mapped.warnings
    (op,) = mapped.operations
    assert "odd" not in (op.attributes or {})
    body = render_v1(op).json
    assert body is not None
    encode_body(body, op)


@pytest.mark.parametrize("value", [{1, 2}, 10**5000], ids=["set", "huge_int"])
def test_python_values_json_cannot_carry_reject_event_data(value: Any) -> None:
    assert refused(track(properties={"odd": value})).code == "invalid_value"


def test_the_cheap_check_finds_a_surrogate_wherever_marshal_cannot_go() -> None:
    class Name(str):  # marshal refuses subclasses: the exact check answers
        pass

    for value in [{Name("k"): BAD}, [Name(BAD)], {"a": {1, BAD}}, [_deep(2500), BAD]]:
        problem = encoding_problem(value)
        assert problem == exact_problem(value)
        assert problem is not None


# --- Identifiers `.` and `..`: never a path segment --------------------------------


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (track(userId="."), "user_id"),
        (track(userId=" .. "), "user_id"),
        (track(userId=None, traits={"email": "."}), "email"),
        (track(userId=None, anonymousId=".."), "anonymous_id"),
        ({"type": "group", "userId": "u1", "groupId": "."}, "group_id"),
        ({"type": "alias", "userId": "..", "previousId": "p"}, "user_id"),
        ({"type": "alias", "userId": "u1", "previousId": "."}, "previous_id"),
        (
            track(
                event="Device Created or Updated", context={"device": {"token": ".", "type": "ios"}}
            ),
            "context.device.token",
        ),
        (
            track(event="Device Deleted", context={"device": {"token": ".."}}),
            "context.device.token",
        ),
    ],
)
def test_an_identifier_that_is_a_dot_segment_is_rejected(event: JsonObject, field: str) -> None:
    result = refused(event)

    assert (result.kind, result.code, result.field) == ("rejected", "invalid_identifier", field)
    assert result.message.startswith(field)


def test_a_dot_segment_anonymous_id_beside_a_known_person_is_dropped_with_a_warning() -> None:
    mapped = ready(identify(anonymousId=".."))

    assert "anonymous_id_dropped:dot_segment" in mapped.warnings
    assert "anonymous_id" not in (mapped.operations[0].attributes or {})


@pytest.mark.parametrize("name", ["Application Opened", "Application Uninstalled"])
def test_a_dot_segment_token_skips_an_optional_device_with_a_warning(name: str) -> None:
    mapped = ready(track(event=name, context={"device": {"token": "..", "type": "ios"}}))

    assert [op.action for op in mapped.operations] == ["event"]
    assert "device_skipped:invalid_token" in mapped.warnings


@pytest.mark.parametrize("value", ["...", ".a", "a.", "./a"])
def test_identifiers_with_dots_that_are_not_dot_segments_are_sent(value: str) -> None:
    (op,) = ready(track(userId=value)).operations

    assert op.person is not None and op.person.value == value
