"""Canonical events (SPEC section 2): both spellings accepted, bad input a clear error."""

from __future__ import annotations

from typing import Any

import pytest

from signal_dest_cio.events import (
    AliasEvent,
    GroupEvent,
    IdentifyEvent,
    InvalidEvent,
    PageEvent,
    TrackEvent,
    parse_event,
)


def test_camel_and_snake_case_fields_parse_to_the_same_event() -> None:
    camel = parse_event(
        {
            "type": "track",
            "event": "Clicked",
            "userId": "u1",
            "anonymousId": "a1",
            "messageId": "m1",
            "originalTimestamp": "2024-01-01T00:00:00Z",
        }
    )
    snake = parse_event(
        {
            "type": "track",
            "event": "Clicked",
            "user_id": "u1",
            "anonymous_id": "a1",
            "message_id": "m1",
            "original_timestamp": "2024-01-01T00:00:00Z",
        }
    )

    assert isinstance(camel, TrackEvent)
    assert camel == snake
    assert (camel.user_id, camel.anonymous_id, camel.message_id) == ("u1", "a1", "m1")
    assert camel.original_timestamp == "2024-01-01T00:00:00Z"


@pytest.mark.parametrize("key", ["groupId", "group_id"])
def test_group_id_in_either_spelling(key: str) -> None:
    event = parse_event({"type": "group", "userId": "u", key: 7})

    assert isinstance(event, GroupEvent)
    assert event.group_id == "7"


@pytest.mark.parametrize("key", ["previousId", "previous_id"])
def test_previous_id_in_either_spelling(key: str) -> None:
    event = parse_event({"type": "alias", "userId": "u", key: " old "})

    assert isinstance(event, AliasEvent)
    assert event.previous_id == "old"


@pytest.mark.parametrize(
    ("user_id", "expected"),
    [
        ("  u1  ", "u1"),
        (42, "42"),
        (42.0, "42"),
        (4.5, "4.5"),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_user_id_is_trimmed_numbers_become_strings_and_empty_is_absent(
    user_id: Any, expected: str | None
) -> None:
    event = parse_event({"type": "identify", "userId": user_id})

    assert isinstance(event, IdentifyEvent)
    assert event.user_id == expected


def test_null_objects_count_as_empty() -> None:
    event = parse_event(
        {"type": "page", "properties": None, "traits": None, "context": {"page": None}}
    )

    assert isinstance(event, PageEvent)
    assert event.properties == {} and event.traits == {} and event.context.page == {}


def test_json_text_and_bytes_are_accepted() -> None:
    text = '{"type": "track", "event": "Clicked", "userId": "u"}'

    assert (
        parse_event(text)
        == parse_event(text.encode())
        == parse_event({"type": "track", "event": "Clicked", "userId": "u"})
    )


@pytest.mark.parametrize("text", ["{", "nope", b"\xff\xfe", '{"type": "track",}'])
def test_malformed_json_is_a_clear_error(text: str | bytes) -> None:
    result = parse_event(text)

    assert isinstance(result, InvalidEvent)
    assert result.code == "malformed_json"
    assert result.message.startswith("not valid JSON")


@pytest.mark.parametrize(
    ("raw", "named"),
    [([1], "an array"), ("[1]", "an array"), ('"x"', "a string"), (5, "a number"), (None, "null")],
)
def test_a_non_object_is_rejected_naming_what_it_was(raw: Any, named: str) -> None:
    result = parse_event(raw)

    assert isinstance(result, InvalidEvent)
    assert result.code == "invalid_event"
    assert named in result.message


@pytest.mark.parametrize("kind", ["Track", "purchase", None, 5])
def test_an_unknown_or_missing_type_is_rejected(kind: Any) -> None:
    raw = {"messageId": "m-9", "userId": "u"} | ({} if kind is None else {"type": kind})
    result = parse_event(raw)

    assert isinstance(result, InvalidEvent)
    assert result.code == "unsupported_type"
    assert result.field == "type"
    assert result.message_id == "m-9"
    assert "identify, track, page, screen, group, alias" in result.message


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"type": "track", "properties": [1]}, "properties"),
        ({"type": "track", "event": 5}, "event"),
        ({"type": "identify", "userId": {"id": 1}}, "userId"),
        ({"type": "page", "context": {"page": "https://x.io"}}, "context.page"),
        ({"type": "identify", "context": 5}, "context"),
        ({"type": "alias", "previousId": [1]}, "previousId"),
    ],
)
def test_a_wrongly_typed_field_is_rejected_naming_the_field(raw: Any, field: str) -> None:
    result = parse_event({**raw, "messageId": "m-1"})

    assert isinstance(result, InvalidEvent)
    assert result.code == "invalid_event"
    assert result.field == field
    assert result.message.startswith(field)
    assert result.message_id == "m-1"


def test_object_fields_are_checked_without_being_copied() -> None:
    """context, properties and traits are taken as the dicts they are (no copy), and
    still refused when they are not JSON objects with text keys."""
    properties = {"plan": "pro", "nested": {"a": 1}}
    event = parse_event({"type": "track", "event": "x", "userId": "u", "properties": properties})
    assert not isinstance(event, InvalidEvent)
    assert event.properties == properties
    for bad, message in (
        ("text", "properties: Input should be a valid dictionary"),
        ([1], "properties: Input should be a valid dictionary"),
        ({1: "a"}, "properties: Input should be a valid string"),
    ):
        refused = parse_event({"type": "track", "event": "x", "userId": "u", "properties": bad})
        assert isinstance(refused, InvalidEvent)
        assert (refused.code, refused.field, refused.message) == (
            "invalid_event",
            "properties",
            message,
        )
    refused = parse_event({"type": "page", "userId": "u", "context": {"page": "x"}})
    assert isinstance(refused, InvalidEvent) and refused.field == "context.page"
    empty = parse_event({"type": "identify", "userId": " u ", "traits": None, "context": None})
    assert not isinstance(empty, InvalidEvent)
    assert (empty.user_id, empty.traits, empty.context.traits) == ("u", {}, {})
