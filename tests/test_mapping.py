"""What each event becomes (SPEC section 3), in v1 requests and v2 items.

Every request and item built here goes through the Track API OpenAPI
validator (tests/openapi.py) on its way to the assertions, via `support`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from support import SNAKE_CASE, JsonObject, make_config, ready, refused, v1_requests, v2_items

from signal_dest_cio.mapping import map_event
from signal_dest_cio.operations import Mapped

TIME = "2024-01-01T12:00:00.123Z"
NOON = 1_704_110_400
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def track(**fields: Any) -> JsonObject:
    return {"type": "track", "event": "Bought", "userId": "u1", "timestamp": TIME} | fields


def only_v1(event: JsonObject, **options: Any) -> tuple[str, str, JsonObject | None]:
    (request,) = v1_requests(ready(event, **options))
    return request


def only_v2(event: JsonObject, **options: Any) -> JsonObject:
    (item,) = v2_items(ready(event, **options))
    return item


def ulid_time_ms(ulid: str) -> int:
    value = 0
    for char in ulid[:10]:
        value = value * 32 + CROCKFORD.index(char)
    return value


# --- Person identifier -------------------------------------------------------


def test_user_id_is_trimmed_and_numbers_become_strings() -> None:
    assert only_v1(track(userId="  u1  "))[1] == "/api/v1/customers/u1/events"
    assert only_v1(track(userId=42))[1] == "/api/v1/customers/42/events"
    assert only_v2(track(userId=42))["identifiers"] == {"id": "42"}


@pytest.mark.parametrize("blank", ["", "   ", None])
def test_empty_user_id_counts_as_absent(blank: Any) -> None:
    event = track(userId=blank, traits={"email": "ann@x.io"})

    assert only_v1(event)[1] == "/api/v1/customers/ann%40x.io/events"
    assert only_v2(event)["identifiers"] == {"email": "ann@x.io"}


@pytest.mark.parametrize(
    ("fields", "email"),
    [
        ({"traits": {"email": "a@x.io"}, "context": {"traits": {"email": "b@x.io"}}}, "a@x.io"),
        ({"context": {"traits": {"email": "b@x.io"}}, "properties": {"email": "c@x.io"}}, "b@x.io"),
        ({"properties": {"email": "c@x.io"}}, "c@x.io"),
    ],
)
def test_without_user_id_the_email_comes_from_traits_context_traits_then_properties(
    fields: JsonObject, email: str
) -> None:
    event = track(userId=None, anonymousId="anon-1", **fields)

    assert only_v2(event)["identifiers"] == {"email": email}


def test_user_id_wins_over_an_email() -> None:
    assert only_v2(track(traits={"email": "a@x.io"}))["identifiers"] == {"id": "u1"}


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        ({"type": "track", "event": "Bought"}, "event"),
        ({"type": "page", "name": "Home"}, "page"),
        ({"type": "screen", "name": "Home"}, "screen"),
    ],
)
def test_track_page_and_screen_may_be_anonymous(event: JsonObject, kind: str) -> None:
    event = event | {"anonymousId": "anon/1", "timestamp": TIME}

    method, path, body = only_v1(event)
    item = only_v2(event)

    assert (method, path) == ("POST", "/api/v1/events")
    assert body is not None
    assert body["anonymous_id"] == "anon/1"
    assert body["type"] == kind
    assert item["identifiers"] == {"anonymous_id": "anon/1"}
    assert item["action"] == kind


@pytest.mark.parametrize(
    "event",
    [
        {"type": "identify", "anonymousId": "a", "traits": {"name": "Ann"}},
        # A group's traits are the object's: traits.email is never the person.
        {"type": "group", "groupId": "acme", "traits": {"email": "a@x.io"}},
        {"type": "alias", "anonymousId": "a", "previousId": "old"},
        {"type": "track", "event": "Bought"},
        {"type": "page", "name": "Home"},
        {"type": "screen", "name": "Home", "userId": "  "},
        {"type": "track", "event": "User Deleted", "anonymousId": "a"},
        {
            "type": "track",
            "event": "Device Deleted",
            "anonymousId": "a",
            "context": {"device": {"token": "tok"}},
        },
    ],
)
def test_events_with_no_person_are_rejected_missing_identifier(event: JsonObject) -> None:
    result = refused(event | {"messageId": "m-1"})

    assert (result.kind, result.code, result.message_id) == (
        "rejected",
        "missing_identifier",
        "m-1",
    )
    assert result.message


@pytest.mark.parametrize(
    "event",
    [
        track(userId="u" * 151),
        track(userId="é" * 76),
        track(userId=None, traits={"email": "a" * 140 + "@example.com"}),
        track(userId=None, anonymousId="a" * 151),
        {"type": "group", "userId": "u1", "groupId": "g" * 151},
        {"type": "alias", "userId": "u1", "previousId": "p" * 151},
    ],
)
def test_an_identifier_over_150_bytes_is_rejected(event: JsonObject) -> None:
    assert refused(event).code == "identifier_too_long"


def test_an_identifier_over_150_bytes_names_where_it_came_from() -> None:
    result = refused(track(userId=None, traits={"email": "a" * 140 + "@example.com"}))

    assert result.field == "email"


def test_a_long_anonymous_id_beside_a_known_person_is_dropped_with_a_warning() -> None:
    event = {"type": "identify", "userId": "u1", "anonymousId": "a" * 151, "timestamp": TIME}
    result = map_event(event, make_config())

    assert isinstance(result, Mapped)
    assert "anonymous_id_dropped:over_150_bytes" in result.warnings
    assert "anonymous_id" not in (result.operations[0].attributes or {})


def test_an_identifier_of_exactly_150_bytes_is_sent() -> None:
    value = "é" * 75

    assert only_v2(track(userId=value))["identifiers"] == {"id": value}


@pytest.mark.parametrize(("value", "segment"), [("a/b", "a%2Fb"), ("x@y.z", "x%40y.z")])
def test_v1_paths_percent_encode_the_identifier_with_no_safe_characters(
    value: str, segment: str
) -> None:
    device = {"token": "tok", "type": "ios"}
    paths = [
        only_v1({"type": "identify", "userId": value})[1],
        only_v1(track(userId=value))[1],
        only_v1(track(userId=value, event="User Suppressed"))[1],
        only_v1(track(userId=value, event="Device Deleted", context={"device": device}))[1],
    ]

    assert paths == [
        f"/api/v1/customers/{segment}",
        f"/api/v1/customers/{segment}/events",
        f"/api/v1/customers/{segment}/suppress",
        f"/api/v1/customers/{segment}/devices/tok",
    ]


@pytest.mark.parametrize(
    ("value", "identifiers"),
    [
        ("cio_a1b2c3", {"cio_id": "a1b2c3"}),
        ("ann@x.io", {"email": "ann@x.io"}),
        ("u-42", {"id": "u-42"}),
    ],
)
def test_v2_and_merge_identifier_key_follows_the_value_shape(
    value: str, identifiers: dict[str, str]
) -> None:
    merge = ready({"type": "alias", "userId": value, "previousId": value + "x"})

    assert only_v2(track(userId=value))["identifiers"] == identifiers
    assert v1_requests(merge)[0][2]["primary"] == identifiers  # type: ignore[index]
    assert v2_items(merge)[0]["primary"] == identifiers


# --- Timestamps ----------------------------------------------------------------


def test_event_time_is_unix_seconds_floored_in_every_body() -> None:
    identify = {"type": "identify", "userId": "u1", "timestamp": TIME}

    assert only_v1(track())[2]["timestamp"] == NOON  # type: ignore[index]
    assert only_v2(track())["timestamp"] == NOON
    assert only_v1(identify)[2]["_timestamp"] == NOON  # type: ignore[index]
    assert only_v2(identify)["timestamp"] == NOON


@pytest.mark.parametrize(
    "when",
    [
        "2024-01-01T12:00:00Z",
        "2024-01-01T12:00:00.123456789Z",
        "2024-01-01T13:00:00+01:00",
        "2024-01-01T12:00:00",
        NOON,
        NOON + 0.75,
        NOON * 1000 + 999,
    ],
)
def test_timestamp_accepts_iso_and_epoch_forms(when: Any) -> None:
    mapped = ready(track(timestamp=when))

    assert v1_requests(mapped)[0][2]["timestamp"] == NOON  # type: ignore[index]
    assert mapped.warnings == ()


@pytest.mark.parametrize("key", ["originalTimestamp", "original_timestamp"])
def test_original_timestamp_is_used_when_timestamp_is_missing(key: str) -> None:
    event = track(timestamp=None) | {key: TIME}

    assert only_v2(event)["timestamp"] == NOON


@pytest.mark.parametrize("when", ["", "last tuesday", "2024-02-30T00:00:00Z", True, "20240102"])
def test_an_unparseable_time_is_left_out_with_a_warning(when: Any) -> None:
    event = track() | {"timestamp": when}
    identify = {"type": "identify", "userId": "u1", "timestamp": when}
    mapped = ready(event)

    assert "timestamp" not in v1_requests(mapped)[0][2]  # type: ignore[operator]
    assert "timestamp" not in v2_items(mapped)[0]
    assert "_timestamp" not in only_v1(identify)[2]  # type: ignore[operator]
    assert mapped.warnings == ("timestamp_invalid",)


def test_iso_dates_in_nested_traits_and_properties_become_unix_seconds() -> None:
    traits = {"trial_ends": "2024-01-01T12:00:00Z", "plan": {"renews": "2024-01-01"}}
    properties = {"shipped": ["2024-01-01T13:00:00+01:00"], "note": "soon", "n": 3}

    identify = only_v1({"type": "identify", "userId": "u1", "traits": traits})[2]
    event = only_v2(track(properties=properties))

    assert identify is not None
    assert identify["trial_ends"] == NOON
    assert identify["plan"] == {"renews": NOON - 12 * 3600}
    assert event["attributes"] == {"shipped": [NOON], "note": "soon", "n": 3}


def test_convert_timestamps_off_leaves_date_strings_alone() -> None:
    traits = {"trial_ends": "2024-01-01T12:00:00Z"}
    properties = {"shipped": "2024-01-01"}

    identify = only_v1(
        {"type": "identify", "userId": "u1", "traits": traits}, convert_timestamps=False
    )[2]
    event = only_v2(track(properties=properties), convert_timestamps=False)

    assert identify is not None
    assert identify["trial_ends"] == "2024-01-01T12:00:00Z"
    assert event["attributes"] == {"shipped": "2024-01-01"}


# --- Dedup id --------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        track(messageId="m-1"),
        {"type": "page", "userId": "u1", "name": "Home", "messageId": "m-1", "timestamp": TIME},
        {
            "type": "screen",
            "anonymousId": "a",
            "name": "Home",
            "messageId": "m-1",
            "timestamp": TIME,
        },
    ],
)
def test_events_pages_and_screens_carry_a_deterministic_ulid(event: JsonObject) -> None:
    first, again = ready(event), ready(dict(event))
    other = ready(event | {"messageId": "m-2"})

    (v1,) = v1_requests(first)
    (v2,) = v2_items(first)
    ulid = v2["id"]
    assert v1[2] is not None and v1[2]["id"] == ulid
    assert v2_items(again)[0]["id"] == ulid
    assert v2_items(other)[0]["id"] != ulid
    assert len(ulid) == 26 and set(ulid) <= set(CROCKFORD)
    assert ulid_time_ms(ulid) == NOON * 1000 + 123


def test_a_ulid_message_id_is_the_dedup_id() -> None:
    ulid = "01HK2EA8KVQZFPMCKWHDRQVY96"

    assert only_v2(track(messageId=ulid))["id"] == ulid


def test_camel_and_snake_message_ids_give_the_same_dedup_id() -> None:
    camel = only_v2(track(messageId="m-1"))
    snake = only_v2(
        {"type": "track", "event": "Bought", "user_id": "u1", "message_id": "m-1"}
        | {"timestamp": TIME}
    )

    assert camel == snake


# --- identify ------------------------------------------------------------------


def test_identify_puts_context_traits_overlaid_by_traits() -> None:
    event = {
        "type": "identify",
        "userId": "u1",
        "anonymousId": "anon-1",
        "timestamp": TIME,
        "context": {"traits": {"plan": "free", "city": "Oslo", "userId": "u1"}},
        "traits": {"plan": "pro", "email": "ann@x.io", "anonymousId": "anon-1", "user_id": "x"},
    }
    mapped = ready(event)

    assert v1_requests(mapped) == [
        (
            "PUT",
            "/api/v1/customers/u1",
            {
                "plan": "pro",
                "city": "Oslo",
                "email": "ann@x.io",
                "anonymous_id": "anon-1",
                "_timestamp": NOON,
            },
        )
    ]
    assert v2_items(mapped) == [
        {
            "type": "person",
            "identifiers": {"id": "u1"},
            "action": "identify",
            "attributes": {
                "plan": "pro",
                "city": "Oslo",
                "email": "ann@x.io",
                "anonymous_id": "anon-1",
            },
            "timestamp": NOON,
        }
    ]


@pytest.mark.parametrize("key", ["created_at", "createdAt"])
@pytest.mark.parametrize("value", ["2024-01-01T12:00:00Z", NOON, NOON * 1000])
def test_identify_created_at_becomes_unix_seconds(key: str, value: Any) -> None:
    body = only_v1({"type": "identify", "userId": "u1", "traits": {key: value}})[2]

    assert body is not None
    assert body["created_at"] == NOON
    assert "createdAt" not in body


def test_identify_with_unparseable_created_at_drops_it_with_a_warning() -> None:
    mapped = ready({"type": "identify", "userId": "u1", "traits": {"createdAt": "someday"}})

    assert "created_at" not in v1_requests(mapped)[0][2]  # type: ignore[operator]
    assert "created_at_invalid" in mapped.warnings


def test_identify_without_anonymous_id_sends_none() -> None:
    body = only_v1({"type": "identify", "userId": "u1", "traits": {"a": 1}})[2]

    assert body is not None and "anonymous_id" not in body


def test_identify_by_email_alone_uses_the_email_path() -> None:
    event = {"type": "identify", "traits": {"email": "ann@x.io", "name": "Ann"}}

    method, path, body = only_v1(event)

    assert (method, path) == ("PUT", "/api/v1/customers/ann%40x.io")
    assert body is not None and body["name"] == "Ann"
    assert only_v2(event)["identifiers"] == {"email": "ann@x.io"}


# --- track, page, screen ---------------------------------------------------------


def test_track_posts_a_customer_event() -> None:
    mapped = ready(track(properties={"sku": "a-1", "price": 9.5}, messageId="m-1"))
    (item,) = v2_items(mapped)

    assert v1_requests(mapped) == [
        (
            "POST",
            "/api/v1/customers/u1/events",
            {
                "name": "Bought",
                "type": "event",
                "data": {"sku": "a-1", "price": 9.5},
                "timestamp": NOON,
                "id": item["id"],
            },
        )
    ]
    assert item == {
        "type": "person",
        "identifiers": {"id": "u1"},
        "action": "event",
        "id": item["id"],
        "name": "Bought",
        "timestamp": NOON,
        "attributes": {"sku": "a-1", "price": 9.5},
    }


@pytest.mark.parametrize("name", [None, "", "   "])
def test_track_without_an_event_name_is_rejected(name: Any) -> None:
    assert refused(track(event=name)).code == "missing_event_name"


PAGE_CONTEXT = {"page": {"url": "https://x.io/ctx", "path": "/ctx", "title": "Ctx", "extra": 1}}


@pytest.mark.parametrize(
    ("fields", "url_first", "name_first"),
    [
        (
            {"name": "Home", "properties": {"url": "https://x.io/p"}, "context": PAGE_CONTEXT},
            "https://x.io/p",
            "Home",
        ),
        ({"name": "Home", "context": PAGE_CONTEXT}, "https://x.io/ctx", "Home"),
        ({"name": "Home"}, "Home", "Home"),
        ({"properties": {"url": "https://x.io/p"}}, "https://x.io/p", "https://x.io/p"),
    ],
)
def test_page_name_is_the_url_first_unless_page_name_is_name(
    fields: JsonObject, url_first: str, name_first: str
) -> None:
    event = {"type": "page", "userId": "u1", "timestamp": TIME} | fields

    assert only_v1(event)[2]["name"] == url_first  # type: ignore[index]
    assert only_v2(event)["name"] == url_first
    assert only_v1(event, page_name="name")[2]["name"] == name_first  # type: ignore[index]
    assert only_v2(event, page_name="name")["name"] == name_first


def test_page_data_is_context_page_fields_overlaid_by_properties() -> None:
    event = {
        "type": "page",
        "userId": "u1",
        "name": "Home",
        "timestamp": TIME,
        "context": {
            "page": {
                "url": "https://x.io/a",
                "path": "/a",
                "referrer": "https://google.com",
                "search": "?q=1",
                "title": "Old",
                "keywords": ["not", "a", "page", "field"],
            }
        },
        "properties": {"title": "New", "section": "docs"},
    }

    method, path, body = only_v1(event)

    assert (method, path) == ("POST", "/api/v1/customers/u1/events")
    assert body is not None
    assert body["type"] == "page"
    assert body["data"] == {
        "url": "https://x.io/a",
        "path": "/a",
        "referrer": "https://google.com",
        "search": "?q=1",
        "title": "New",
        "section": "docs",
    }
    assert only_v2(event)["attributes"] == body["data"]


@pytest.mark.parametrize("fields", [{}, {"name": "  "}, {"properties": {"url": ""}}])
def test_page_without_url_or_name_is_rejected(fields: JsonObject) -> None:
    assert refused({"type": "page", "userId": "u1"} | fields).code == "missing_page_name"


def test_screen_is_named_plainly_without_a_viewed_wrapper() -> None:
    event = {
        "type": "screen",
        "userId": "u1",
        "anonymousId": "anon-1",
        "name": "Checkout",
        "properties": {"step": 2},
        "timestamp": TIME,
    }

    method, path, body = only_v1(event)
    item = only_v2(event)

    assert (method, path) == ("POST", "/api/v1/customers/u1/events")
    assert body is not None
    assert (body["name"], body["type"], body["data"]) == ("Checkout", "screen", {"step": 2})
    assert body["anonymous_id"] == "anon-1"
    assert (item["action"], item["name"], item["attributes"]) == ("screen", "Checkout", {"step": 2})


def test_screen_without_a_name_is_rejected() -> None:
    assert refused({"type": "screen", "userId": "u1"}).code == "missing_event_name"


# --- alias and group ---------------------------------------------------------------


def test_alias_merges_previous_id_into_user_id() -> None:
    mapped = ready({"type": "alias", "userId": "ann@x.io", "previousId": "cio_old1"})

    assert v1_requests(mapped) == [
        (
            "POST",
            "/api/v1/merge_customers",
            {"primary": {"email": "ann@x.io"}, "secondary": {"cio_id": "old1"}},
        )
    ]
    assert v2_items(mapped) == [
        {
            "type": "person",
            "action": "merge",
            "primary": {"email": "ann@x.io"},
            "secondary": {"cio_id": "old1"},
        }
    ]


@pytest.mark.parametrize(
    "event",
    [
        {"type": "alias", "userId": "u1"},
        {"type": "alias", "previousId": "old", "traits": {"email": "a@x.io"}},
    ],
)
def test_alias_needs_both_user_id_and_previous_id(event: JsonObject) -> None:
    assert refused(event).code == "missing_identifier"


def test_group_identifies_an_object_related_to_the_person() -> None:
    event = {"type": "group", "userId": "u1", "groupId": "acme", "traits": {"name": "Acme"}}
    expected = {
        "type": "object",
        "identifiers": {"object_type_id": "1", "object_id": "acme"},
        "action": "identify",
        "attributes": {"name": "Acme"},
        "cio_relationships": [{"identifiers": {"id": "u1"}}],
    }

    assert only_v1(event) == ("POST", "/api/v2/entity", expected)
    assert only_v2(event) == expected


def test_group_object_type_comes_from_traits_else_the_configured_default() -> None:
    event = {"type": "group", "userId": "ann@x.io", "groupId": 7}
    typed = event | {"traits": {"object_type_id": "3", "seats": 5}}

    configured = only_v2(event, default_object_type_id="2")
    from_traits = only_v2(typed, default_object_type_id="2")

    assert configured["identifiers"] == {"object_type_id": "2", "object_id": "7"}
    assert configured["cio_relationships"] == [{"identifiers": {"email": "ann@x.io"}}]
    assert from_traits["identifiers"] == {"object_type_id": "3", "object_id": "7"}
    assert from_traits["attributes"] == {"seats": 5}


def test_group_without_group_id_is_rejected() -> None:
    assert refused({"type": "group", "userId": "u1"}).code == "missing_group_id"


# --- devices and person lifecycle ---------------------------------------------------

DEVICE_CONTEXT = {
    "device": {"token": "tok/1", "type": "iOS", "model": "iPhone15,2"},
    "os": {"name": "iOS", "version": "17.2"},
    "app": {"version": "3.1.0"},
    "locale": "en-US",
}


@pytest.mark.parametrize("name", ["Application Installed", "Application Opened"])
def test_app_install_or_open_with_a_token_adds_the_device_and_tracks_the_event(
    name: str,
) -> None:
    mapped = ready(track(event=name, context=DEVICE_CONTEXT))
    device = {
        "platform": "ios",
        "last_used": NOON,
        "attributes": {
            "device_model": "iPhone15,2",
            "device_os": "iOS 17.2",
            "app_version": "3.1.0",
            "device_locale": "en-US",
        },
    }

    (put, post) = v1_requests(mapped)
    (add, event) = v2_items(mapped)

    assert put == ("PUT", "/api/v1/customers/u1/devices", {"device": {"id": "tok/1", **device}})
    assert post[:2] == ("POST", "/api/v1/customers/u1/events")
    assert post[2] is not None and post[2]["name"] == name
    assert add == {
        "type": "person",
        "identifiers": {"id": "u1"},
        "action": "add_device",
        "device": {"token": "tok/1", **device},
    }
    assert (event["action"], event["name"]) == ("event", name)


def test_app_opened_without_a_token_is_only_the_event() -> None:
    mapped = ready(track(event="Application Opened"))

    assert [op.action for op in mapped.operations] == ["event"]


def test_app_opened_on_an_unknown_platform_skips_the_device_with_a_warning() -> None:
    context = {"device": {"token": "tok", "type": "web"}}
    mapped = ready(track(event="Application Opened", context=context))

    assert [op.action for op in mapped.operations] == ["event"]
    assert "device_skipped:unknown_platform" in mapped.warnings


def test_the_platform_can_come_from_the_os_name() -> None:
    context = {"device": {"token": "tok"}, "os": {"name": "Android"}}

    item = only_v2(track(event="Device Created or Updated", context=context))

    assert item["device"]["platform"] == "android"


def test_device_created_or_updated_is_the_device_request_only() -> None:
    mapped = ready(track(event="Device Created or Updated", context=DEVICE_CONTEXT))

    (put,) = v1_requests(mapped)
    (item,) = v2_items(mapped)
    assert put[:2] == ("PUT", "/api/v1/customers/u1/devices")
    assert item["action"] == "add_device"


@pytest.mark.parametrize(
    ("context", "code"),
    [
        ({}, "missing_device_token"),
        ({"device": {"token": "  ", "type": "ios"}}, "missing_device_token"),
        ({"device": {"token": "tok", "type": "web"}}, "invalid_device_platform"),
    ],
)
def test_device_created_or_updated_without_a_usable_device_is_rejected(
    context: JsonObject, code: str
) -> None:
    assert refused(track(event="Device Created or Updated", context=context)).code == code


def test_application_uninstalled_deletes_the_device_and_tracks_the_event() -> None:
    mapped = ready(track(event="Application Uninstalled", context=DEVICE_CONTEXT))

    (delete, post) = v1_requests(mapped)
    (item, event) = v2_items(mapped)
    assert delete == ("DELETE", "/api/v1/customers/u1/devices/tok%2F1", None)
    assert post[:2] == ("POST", "/api/v1/customers/u1/events")
    assert item == {
        "type": "person",
        "identifiers": {"id": "u1"},
        "action": "delete_device",
        "device": {"token": "tok/1"},
    }
    assert (event["action"], event["name"]) == ("event", "Application Uninstalled")


def test_device_deleted_is_the_delete_only() -> None:
    mapped = ready(track(event="Device Deleted", context={"device": {"token": "tok"}}))

    assert v1_requests(mapped) == [("DELETE", "/api/v1/customers/u1/devices/tok", None)]


def test_device_deleted_without_a_token_is_rejected() -> None:
    assert refused(track(event="Device Deleted")).code == "missing_device_token"


@pytest.mark.parametrize(
    ("name", "method", "suffix", "action"),
    [
        ("User Deleted", "DELETE", "", "delete"),
        ("User Suppressed", "POST", "/suppress", "suppress"),
        ("User Unsuppressed", "POST", "/unsuppress", "unsuppress"),
    ],
)
def test_user_lifecycle_events_delete_suppress_or_unsuppress(
    name: str, method: str, suffix: str, action: str
) -> None:
    mapped = ready(track(event=name, userId="a/b"))

    assert v1_requests(mapped) == [(method, f"/api/v1/customers/a%2Fb{suffix}", None)]
    assert v2_items(mapped) == [{"type": "person", "identifiers": {"id": "a/b"}, "action": action}]


# --- identify_on_track -------------------------------------------------------------


def test_identify_on_track_identifies_context_traits_before_the_event() -> None:
    event = track(context={"traits": {"plan": "pro", "userId": "u1"}})

    mapped = ready(event, identify_on_track=True)

    (identify, post) = v1_requests(mapped)
    assert identify == ("PUT", "/api/v1/customers/u1", {"plan": "pro", "_timestamp": NOON})
    assert post[:2] == ("POST", "/api/v1/customers/u1/events")
    assert [item["action"] for item in v2_items(mapped)] == ["identify", "event"]


def test_identify_on_track_comes_before_the_device_too() -> None:
    context = DEVICE_CONTEXT | {"traits": {"plan": "pro"}}
    event = track(event="Application Installed", context=context)

    mapped = ready(event, identify_on_track=True)

    assert [op.action for op in mapped.operations] == ["identify", "add_device", "event"]


@pytest.mark.parametrize(
    ("event", "options"),
    [
        (track(context={"traits": {"plan": "pro"}}), {}),
        (track(), {"identify_on_track": True}),
    ],
)
def test_identify_on_track_needs_the_option_and_context_traits(
    event: JsonObject, options: JsonObject
) -> None:
    assert [op.action for op in ready(event, **options).operations] == ["event"]


# --- consent -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "consent",
    [
        {"marketing": False},
        {"categories": ["analytics"]},
        {"categories": []},
        {"canonical": ["analytics", "functional"]},
    ],
)
def test_an_event_without_marketing_consent_is_filtered(consent: JsonObject) -> None:
    event = track(messageId="m-1", context={"consent": consent})

    result = refused(event)

    assert (result.kind, result.code, result.message_id) == ("filtered", "consent_denied", "m-1")
    assert isinstance(map_event(event, make_config(respect_consent=False)), Mapped)


@pytest.mark.parametrize(
    "consent",
    [
        {},
        {"marketing": True},
        {"categories": ["marketing", "analytics"]},
        {"canonical": ["marketing"]},
    ],
)
def test_an_event_with_consent_or_no_consent_info_is_sent(consent: JsonObject) -> None:
    ready(track(context={"consent": consent}))


def test_the_consent_category_is_configurable() -> None:
    event = track(context={"consent": {"categories": ["marketing"]}})

    assert refused(event, consent_category="analytics").code == "consent_denied"
    ready(event | {"context": {"consent": {"analytics": True}}}, consent_category="analytics")


def test_consent_applies_to_every_event_type() -> None:
    identify = {"type": "identify", "userId": "u1", "context": {"consent": {"marketing": False}}}

    assert refused(identify).kind == "filtered"


# --- limits ------------------------------------------------------------------------


def test_an_event_name_over_100_bytes_is_cut_at_a_utf8_boundary() -> None:
    mapped = ready(track(event="é" * 60))  # 120 bytes

    name = v2_items(mapped)[0]["name"]

    assert name == "é" * 50
    assert len(name.encode()) <= 100
    assert "name_truncated" in mapped.warnings


def test_a_name_of_exactly_100_bytes_is_kept() -> None:
    mapped = ready(track(event="n" * 100))

    assert v2_items(mapped)[0]["name"] == "n" * 100
    assert "name_truncated" not in mapped.warnings


def test_a_long_page_url_is_cut_in_the_name_and_kept_whole_in_data() -> None:
    url = "https://x.io/" + "a" * 200
    mapped = ready({"type": "page", "userId": "u1", "context": {"page": {"url": url}}})

    body = v1_requests(mapped)[0][2]

    assert body is not None
    assert body["name"] == url[:100]
    assert body["data"]["url"] == url
    assert "name_truncated" in mapped.warnings


def test_event_data_over_100000_bytes_is_rejected() -> None:
    blob = "x" * (100_000 - len('{"blob":""}') + 1)  # 100,001 bytes as compact JSON

    result = refused(track(properties={"blob": blob}))

    assert (result.kind, result.code) == ("rejected", "payload_too_large")
    assert refused(track(properties={"blob": "é" * 50_000})).code == "payload_too_large"


def test_event_data_of_100000_bytes_is_sent() -> None:
    blob = "x" * (100_000 - len('{"blob":""}'))

    assert only_v2(track(properties={"blob": blob}))["attributes"] == {"blob": blob}


def test_oversized_attributes_are_dropped_with_a_warning_and_the_rest_sent() -> None:
    long_name = "n" * 151
    traits = {long_name: 1, "bio": "b" * 1001, "nested": {"k": "v" * 1000}, "ok": "o" * 1000}
    mapped = ready({"type": "identify", "userId": "u1", "traits": traits, "timestamp": TIME})

    body = v1_requests(mapped)[0][2]

    assert body == {"ok": "o" * 1000, "_timestamp": NOON}
    dropped = [w for w in mapped.warnings if w.startswith("attribute_dropped")]
    assert len(dropped) == 3
    assert any("bio" in w for w in dropped)
    assert any("nested" in w for w in dropped)
    assert any("n" * 40 in w for w in dropped)


def test_attributes_at_the_limits_are_kept() -> None:
    traits = {"n" * 150: 1, "bio": "é" * 500}  # a 150-byte name, a 1000-byte value
    mapped = ready({"type": "identify", "userId": "u1", "traits": traits, "timestamp": TIME})

    assert v2_items(mapped)[0]["attributes"] == traits
    assert mapped.warnings == ()


def test_oversized_group_traits_are_dropped_too() -> None:
    event = {"type": "group", "userId": "u1", "groupId": "g", "traits": {"x": "v" * 1001, "y": 1}}
    mapped = ready(event)

    assert v2_items(mapped)[0]["attributes"] == {"y": 1}
    assert any("x" in w for w in mapped.warnings if w.startswith("attribute_dropped"))


# --- malformed input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "malformed_json"),
        ([track()], "invalid_event"),
        ("42", "invalid_event"),
        ({"type": "purchase", "userId": "u1"}, "unsupported_type"),
        ({"userId": "u1"}, "unsupported_type"),
        ({"type": "track", "userId": "u1", "event": "x", "properties": "x"}, "invalid_event"),
    ],
)
def test_malformed_input_is_rejected_with_a_code_and_message(raw: Any, code: str) -> None:
    result = refused(raw)

    assert (result.kind, result.code) == ("rejected", code)
    assert result.message


@pytest.mark.parametrize(
    "event",
    [
        {"type": "identify", "userId": "u1", "anonymousId": "a1", "traits": {"x": 1}},
        {"type": "track", "userId": "u1", "event": "Bought"},
        {"type": "track", "anonymousId": "a1", "event": "Bought"},
        {"type": "page", "anonymousId": "a1", "name": "Home"},
        {"type": "screen", "userId": "u1", "anonymousId": "a1", "name": "Home"},
        {"type": "group", "userId": "u1", "groupId": "acme"},
        {"type": "alias", "userId": "u1", "previousId": "old"},
    ],
)
def test_snake_case_events_map_exactly_like_camel_case(event: JsonObject) -> None:
    camel = event | {"messageId": "m-1", "originalTimestamp": TIME}
    snake = {SNAKE_CASE.get(key, key): value for key, value in camel.items()}

    assert ready(snake) == ready(camel)
    assert v1_requests(ready(snake)) == v1_requests(ready(camel))


def test_json_text_is_mapped_like_the_decoded_object() -> None:
    event = track(messageId="m-1")

    assert ready(json.dumps(event)) == ready(event)  # type: ignore[arg-type]


def test_null_page_context_fields_are_left_out_of_page_data() -> None:
    event = {
        "type": "page",
        "userId": "u1",
        "timestamp": TIME,
        "context": {"page": {"url": "https://example.com/a", "referrer": None}},
    }

    assert "referrer" not in only_v2(event)["attributes"]


def test_a_non_string_email_trait_is_dropped_with_a_warning() -> None:
    event = {"type": "identify", "userId": "u1", "timestamp": TIME, "traits": {"email": None}}
    result = map_event(event, make_config())

    assert isinstance(result, Mapped)
    assert "email" not in (result.operations[0].attributes or {})
    assert "attribute_dropped:traits.email:not_a_string" in result.warnings


def test_nan_in_event_data_is_rejected_and_in_traits_is_dropped() -> None:
    track_result = refused(track(properties={"score": float("nan")}))
    identify_result = map_event(
        {"type": "identify", "userId": "u1", "timestamp": TIME, "traits": {"x": float("inf")}},
        make_config(),
    )

    assert track_result.code == "invalid_value"
    assert isinstance(identify_result, Mapped)
    assert "attribute_dropped:traits.x:not_json" in identify_result.warnings
