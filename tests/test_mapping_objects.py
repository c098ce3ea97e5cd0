"""SPEC 3.1: objects, relationships, delivery metrics, devices, screens, sizes, time and
consent at the edges. Every request built here is checked against the Track API file."""

from __future__ import annotations

import time
from typing import Any

import pytest
from support import JsonObject, checked_v1, make_config, ready, refused, v1_requests, v2_items

from signal_dest_cio.lanes import lane_keys
from signal_dest_cio.mapping import map_event
from signal_dest_cio.operations import Mapped
from signal_dest_cio.render import NoV2Item, render_preview, render_v2

TIME = "2024-01-01T12:00:00.123Z"
NOON = 1_704_110_400
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ACME = {"object_type_id": "1", "object_id": "acme"}


def group(**fields: Any) -> JsonObject:
    return {"type": "group", "userId": "u1", "groupId": "acme", "timestamp": TIME} | fields


def identify(**traits: Any) -> JsonObject:
    return {"type": "identify", "userId": "u1", "timestamp": TIME, "traits": traits}


def track(name: str, **fields: Any) -> JsonObject:
    return {"type": "track", "event": name, "userId": "u1", "timestamp": TIME} | fields


def only_v2(event: JsonObject, **options: Any) -> JsonObject:
    (item,) = v2_items(ready(event, **options))
    return item


def only_v1(event: JsonObject, **options: Any) -> tuple[str, str, JsonObject | None]:
    (request,) = v1_requests(ready(event, **options))
    return request


def ulid_time_ms(ulid: str) -> int:
    value = 0
    for char in ulid[:10]:
        value = value * 32 + CROCKFORD.index(char)
    return value


# --- group --------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["relationshipAttributes", "relationship_attributes"])
def test_group_relationship_attributes_go_to_the_relationship_not_the_object(key: str) -> None:
    event = group(traits={"name": "Acme", key: {"role": "admin", "since": "2024-01-01"}})
    expected = {
        "type": "object",
        "identifiers": ACME,
        "action": "identify",
        "attributes": {"name": "Acme"},
        "cio_relationships": [
            {
                "identifiers": {"id": "u1"},
                "relationship_attributes": {"role": "admin", "since": NOON - 12 * 3600},
            }
        ],
    }

    assert only_v2(event) == expected
    assert only_v1(event) == ("POST", "/api/v2/entity", expected)


def test_a_groups_traits_email_is_the_objects_and_never_the_person() -> None:
    event = group(
        userId=None,
        traits={"email": "billing@acme.io"},
        context={"traits": {"email": "ann@x.io"}},
    )

    item = only_v2(event)

    assert item["attributes"] == {"email": "billing@acme.io"}
    assert item["cio_relationships"] == [{"identifiers": {"email": "ann@x.io"}}]


def test_a_group_type_id_from_traits_is_not_an_object_attribute_in_either_spelling() -> None:
    event = group(traits={"objectTypeId": 3, "object_type_id": "3", "seats": 5})

    item = only_v2(event, default_object_type_id="2")

    assert item["identifiers"] == {"object_type_id": "3", "object_id": "acme"}
    assert item["attributes"] == {"seats": 5}


def test_an_anonymous_group_identifies_the_object_for_the_anonymous_id() -> None:
    event = group(userId=None, anonymousId="anon-1", traits={"name": "Acme"})
    expected = {
        "type": "object",
        "identifiers": ACME,
        "action": "identify_anonymous",
        "attributes": {"name": "Acme"},
        "cio_relationships": [{"identifiers": {"anonymous_id": "anon-1"}}],
    }
    mapped = ready(event)

    assert v2_items(mapped) == [expected]
    assert v1_requests(mapped) == [("POST", "/api/v2/entity", expected)]
    assert set(lane_keys(mapped)) == {"a:anon-1", "o:1:acme"}


def test_a_group_with_a_person_and_an_anonymous_id_relates_the_person() -> None:
    item = only_v2(group(anonymousId="anon-1"))

    assert (item["action"], item["cio_relationships"]) == (
        "identify",
        [{"identifiers": {"id": "u1"}}],
    )


def test_group_relationship_attributes_that_are_no_object_are_dropped_with_a_warning() -> None:
    mapped = ready(group(traits={"name": "Acme", "relationshipAttributes": "admin"}))

    (item,) = v2_items(mapped)
    assert item["attributes"] == {"name": "Acme"}
    assert item["cio_relationships"] == [{"identifiers": {"id": "u1"}}]
    assert "attribute_dropped:traits.relationshipAttributes:not_an_object" in mapped.warnings


def test_a_group_with_an_unusable_type_id_is_rejected_naming_it() -> None:
    result = refused(group(traits={"objectTypeId": {"id": 1}}))

    assert (result.code, result.field) == ("invalid_identifier", "traits.objectTypeId")


# --- identify with a relationship ---------------------------------------------------


def test_identify_with_an_object_id_is_a_v2_item_carrying_the_relationship() -> None:
    event = identify(
        plan="pro", objectId="acme", objectTypeId=2, relationshipAttributes={"role": "owner"}
    )
    expected = {
        "type": "person",
        "identifiers": {"id": "u1"},
        "action": "identify",
        "attributes": {"plan": "pro"},
        "timestamp": NOON,
        "cio_relationships": [
            {
                "identifiers": {"object_type_id": "2", "object_id": "acme"},
                "relationship_attributes": {"role": "owner"},
            }
        ],
    }
    mapped = ready(event)

    assert v2_items(mapped) == [expected]
    # v1 has no identify with relationships the SPEC takes: the same item, one at a time.
    assert v1_requests(mapped) == [("POST", "/api/v2/entity", expected)]
    assert "o:2:acme" in lane_keys(mapped)


def test_identify_object_type_defaults_to_the_configured_one_and_numbers_become_text() -> None:
    item = only_v2(identify(object_id=42), default_object_type_id="5")

    assert item["attributes"] == {}
    assert item["cio_relationships"] == [
        {"identifiers": {"object_type_id": "5", "object_id": "42"}}
    ]


def test_relationship_keys_are_never_person_attributes_even_without_an_object() -> None:
    mapped = ready(identify(plan="pro", relationshipAttributes={"role": "owner"}))

    assert v1_requests(mapped) == [
        ("PUT", "/api/v1/customers/u1", {"plan": "pro", "_timestamp": NOON})
    ]
    assert mapped.warnings == ("relationship_dropped:missing_object_id",)


@pytest.mark.parametrize(
    ("object_id", "warning"),
    [
        ({"id": "acme"}, "relationship_dropped:invalid_identifier"),
        ("..", "relationship_dropped:dot_segment"),
        ("o" * 151, "relationship_dropped:over_150_bytes"),
    ],
)
def test_an_unusable_object_id_costs_the_relationship_not_the_identify(
    object_id: Any, warning: str
) -> None:
    mapped = ready(identify(plan="pro", objectId=object_id))

    assert v1_requests(mapped) == [
        ("PUT", "/api/v1/customers/u1", {"plan": "pro", "_timestamp": NOON})
    ]
    assert warning in mapped.warnings


def test_identify_on_track_relates_the_person_too() -> None:
    event = track("Bought", context={"traits": {"plan": "pro", "objectId": "acme"}})

    mapped = ready(event, identify_on_track=True)

    identify_item, _ = v2_items(mapped)
    assert identify_item["cio_relationships"] == [{"identifiers": ACME}]
    assert identify_item["attributes"] == {"plan": "pro"}


# --- Object Deleted, Relationship Deleted -------------------------------------------


@pytest.mark.parametrize("key", ["objectId", "groupId"])
def test_object_deleted_deletes_the_object(key: str) -> None:
    event = track("Object Deleted", userId=None, properties={key: "acme", "objectTypeId": "4"})
    expected = {
        "type": "object",
        "identifiers": {"object_type_id": "4", "object_id": "acme"},
        "action": "delete",
    }
    mapped = ready(event)

    assert v2_items(mapped) == [expected]
    assert v1_requests(mapped) == [("POST", "/api/v2/entity", expected)]
    assert lane_keys(mapped) == ("o:4:acme",)


def test_object_deleted_takes_the_configured_type_and_needs_an_object_id() -> None:
    event = track("Object Deleted", properties={"objectId": 7})

    assert only_v2(event, default_object_type_id="3")["identifiers"] == {
        "object_type_id": "3",
        "object_id": "7",
    }
    result = refused(track("Object Deleted", properties={"objectId": "  "}))
    assert (result.code, result.field) == ("missing_object_id", "properties.objectId")


def test_relationship_deleted_deletes_the_persons_relationship_to_the_object() -> None:
    event = track("Relationship Deleted", properties={"objectId": "acme", "objectTypeId": "1"})
    expected = {
        "type": "person",
        "identifiers": {"id": "u1"},
        "action": "delete_relationships",
        "cio_relationships": [{"identifiers": ACME}],
    }
    mapped = ready(event)

    assert v2_items(mapped) == [expected]
    assert v1_requests(mapped) == [("POST", "/api/v2/entity", expected)]
    assert set(lane_keys(mapped)) == {"p:u1", "o:1:acme"}


@pytest.mark.parametrize(
    ("event", "code"),
    [
        (track("Relationship Deleted"), "missing_object_id"),
        (track("Relationship Deleted", properties={"groupId": "acme"}), "missing_object_id"),
        (
            track("Relationship Deleted", userId=None, properties={"objectId": "acme"}),
            "missing_identifier",
        ),
    ],
)
def test_relationship_deleted_needs_the_object_and_the_person(event: JsonObject, code: str) -> None:
    assert refused(event).code == code


# --- Report Delivery Event ----------------------------------------------------------


def metric_event(**properties: Any) -> JsonObject:
    return track("Report Delivery Event", userId=None, properties=properties)


def mapped_metric(event: JsonObject, **options: Any) -> Mapped:
    result = map_event(event, make_config(**options))
    assert isinstance(result, Mapped), result
    return result


def test_report_delivery_event_posts_the_metric_in_both_api_modes() -> None:
    event = metric_event(
        deliveryId="RPILAgUBcRhIBqSfeiIwdIYJKxTY",
        metric="clicked",
        recipient="ann@x.io",
        href="https://x.io/a",
        reason="",  # blank: left out
    )
    body = {
        "delivery_id": "RPILAgUBcRhIBqSfeiIwdIYJKxTY",
        "metric": "clicked",
        "timestamp": NOON,
        "recipient": "ann@x.io",
        "href": "https://x.io/a",
    }

    for api in ("v1", "v2"):
        (op,) = mapped_metric(event, api=api).operations
        request = checked_v1(op)
        assert (request.method, request.path, request.json) == ("POST", "/api/v1/metrics", body)
        assert render_preview(op, api) == request
        with pytest.raises(NoV2Item):
            render_v2(op)


@pytest.mark.parametrize("metric", ["failed", "Opened", " DEFERRED ", "spammed"])
def test_metrics_are_matched_in_any_case_and_sent_lowercase(metric: str) -> None:
    (op,) = mapped_metric(metric_event(delivery_id=77, metric=metric)).operations

    body = checked_v1(op).json
    assert body is not None
    assert (body["delivery_id"], body["metric"]) == ("77", metric.strip().lower())


@pytest.mark.parametrize(
    ("properties", "code", "field"),
    [
        ({"metric": "opened"}, "missing_delivery_id", "properties.deliveryId"),
        ({"deliveryId": " ", "metric": "opened"}, "missing_delivery_id", "properties.deliveryId"),
        ({"deliveryId": "d1"}, "invalid_metric", "properties.metric"),
        ({"deliveryId": "d1", "metric": "sent"}, "invalid_metric", "properties.metric"),
        ({"deliveryId": "d1", "metric": ["opened"]}, "invalid_metric", "properties.metric"),
    ],
)
def test_a_metric_without_a_delivery_or_a_known_metric_is_rejected_naming_the_field(
    properties: JsonObject, code: str, field: str
) -> None:
    result = refused(metric_event(**properties))

    assert (result.code, result.field) == (code, field)
    assert "delivered, opened" in result.message or code == "missing_delivery_id"


def test_a_metric_field_that_is_no_string_is_dropped_with_a_warning() -> None:
    mapped = mapped_metric(metric_event(deliveryId="d1", metric="bounced", reason={"code": 5}))

    (op,) = mapped.operations
    assert checked_v1(op).json == {"delivery_id": "d1", "metric": "bounced", "timestamp": NOON}
    assert mapped.warnings == ("attribute_dropped:properties.reason:not_a_string",)


# --- devices ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("device", "os", "platform"),
    [
        ({"type": "iPadOS"}, {}, "ios"),
        ({"type": "IOS"}, {}, "ios"),
        ({"type": "ANDROID"}, {}, "android"),
        ({"type": "web"}, {"name": "iPadOS"}, "ios"),  # the type names none: the OS decides
        ({}, {"name": "android"}, "android"),
        ({"type": "Android"}, {"name": "iOS"}, "android"),  # the type comes first
    ],
)
def test_the_device_platform_comes_from_the_type_else_the_os_in_any_case(
    device: JsonObject, os: JsonObject, platform: str
) -> None:
    context = {"device": {"token": "tok", **device}, "os": os}

    item = only_v2(track("Device Created or Updated", context=context))

    assert item["device"]["platform"] == platform


def test_device_attributes_are_the_context_ones_plus_the_scalar_properties() -> None:
    context = {
        "device": {"token": "tok", "type": "ios", "model": "iPhone15,2"},
        "os": {"name": "iOS", "version": "17.2"},
        "app": {"version": "3.1.0"},
        "locale": "en-US",
    }
    properties = {
        "build": 311,
        "beta": True,
        "ratio": 0.5,
        "nested": {"no": 1},  # not a scalar: not a device attribute
        "list": [1],
        "nothing": None,
        "app_version": "from properties",  # the context's wins
        "installed": "2024-01-01T12:00:00Z",
    }

    mapped = ready(track("Application Installed", context=context, properties=properties))

    (add, event) = v2_items(mapped)
    assert add["device"]["attributes"] == {
        "build": 311,
        "beta": True,
        "ratio": 0.5,
        "app_version": "3.1.0",
        "installed": NOON,
        "device_model": "iPhone15,2",
        "device_os": "iOS 17.2",
        "device_locale": "en-US",
    }
    assert event["attributes"] == properties | {"installed": NOON}  # the event keeps them all
    assert mapped.operations[0].helper and not mapped.operations[1].helper


def test_an_oversized_property_is_no_device_attribute_and_says_so() -> None:
    context = {"device": {"token": "tok", "type": "android"}}

    mapped = ready(
        track("Device Created or Updated", context=context, properties={"x": "y" * 1001})
    )

    assert v2_items(mapped)[0]["device"].get("attributes") is None
    assert "attribute_dropped:device.attributes.x:value_over_1000_bytes" in mapped.warnings
    assert not mapped.operations[0].helper  # the device is the event's point here


# --- screens ----------------------------------------------------------------------


def test_a_known_persons_screen_in_v1_is_a_customer_event_of_type_screen() -> None:
    event = {"type": "screen", "userId": "u1", "name": "Cart", "timestamp": TIME}

    method, path, body = only_v1(event)

    assert (method, path) == ("POST", "/api/v1/customers/u1/events")
    assert body is not None
    assert (body["type"], body["name"]) == ("screen", "Cart")
    assert "anonymous_id" not in body


# --- sizes ------------------------------------------------------------------------

# 40 attributes of 900 bytes: each within the 1000-byte limit, together over 32 KB.
BIG = {f"a{i}": "v" * 900 for i in range(40)}
FITS = {f"a{i}": "v" * 900 for i in range(30)}


@pytest.mark.parametrize(
    "event",
    [
        group(traits=BIG),
        group(traits={"relationshipAttributes": BIG}),
        group(userId=None, anonymousId="a1", traits=BIG),
        identify(objectId="acme", **BIG),
        identify(objectId="acme", relationshipAttributes=BIG),
    ],
)
def test_what_can_only_be_a_v2_item_is_rejected_over_32_kb_naming_the_limit(
    event: JsonObject,
) -> None:
    for api in ("v1", "v2"):
        result = refused(event, api=api)

        assert result.code == "payload_too_large"
        assert "32768 bytes (32 KB)" in result.message


def test_under_32_kb_they_are_sent_and_a_plain_identify_has_its_v1_put_for_more() -> None:
    ready(group(traits=FITS))
    ready(identify(objectId="acme", **FITS))

    (op,) = ready(identify(**BIG)).operations  # over 32 KB as an item, but PUT takes it
    assert checked_v1(op).method == "PUT"


# --- time -------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["receivedAt", "received_at"])
def test_without_timestamp_or_original_timestamp_the_time_is_received_at(key: str) -> None:
    event = track("Bought", timestamp=None, messageId="m-1") | {key: TIME}

    mapped = ready(event)

    (item,) = v2_items(mapped)
    assert item["timestamp"] == NOON
    assert ulid_time_ms(item["id"]) == NOON * 1000 + 123  # the dedup id takes that time
    assert mapped.warnings == ()


def test_timestamp_and_original_timestamp_come_before_received_at() -> None:
    later = "2024-01-02T00:00:00Z"

    assert only_v2(track("Bought", receivedAt=later))["timestamp"] == NOON
    assert (
        only_v2(track("Bought", timestamp=None, originalTimestamp=TIME, receivedAt=later))[
            "timestamp"
        ]
        == NOON
    )


def test_an_event_naming_no_time_at_all_happened_now_without_a_warning() -> None:
    before = time.time_ns() // 1_000_000
    mapped = ready(track("Bought", timestamp=None, messageId="m-1"))
    after = time.time_ns() // 1_000_000

    (item,) = v2_items(mapped)
    assert before // 1000 <= item["timestamp"] <= after // 1000
    assert before <= ulid_time_ms(item["id"]) <= after
    assert mapped.warnings == ()


def test_a_present_but_unparseable_time_warns_and_does_not_fall_back() -> None:
    mapped = ready(track("Bought", timestamp="soon", receivedAt=TIME, messageId="m-1"))

    (item,) = v2_items(mapped)
    assert "timestamp" not in item
    assert ulid_time_ms(item["id"]) == 0  # deterministic for the messageId
    assert mapped.warnings == ("timestamp_invalid",)


# --- consent ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "consent",
    [
        {"Marketing": False},
        {"MARKETING": False, "marketing": True},  # any form that withholds it
        {"categories": ["Analytics"]},
        {"categoryPreferences": {"MarKeting": False}},
    ],
)
def test_consent_categories_withheld_in_any_case_filter_the_event(consent: JsonObject) -> None:
    assert refused(track("Bought", context={"consent": consent})).kind == "filtered"


@pytest.mark.parametrize(
    "consent",
    [
        {"Marketing": True},
        {"categories": ["Marketing"]},
        {"canonical": ["MARKETING", "analytics"]},
        {"categoryPreferences": {"Marketing": True}},
    ],
)
def test_consent_categories_granted_in_any_case_let_the_event_through(consent: JsonObject) -> None:
    ready(track("Bought", context={"consent": consent}))


def test_the_configured_category_matches_in_any_case_too() -> None:
    event = track("Bought", context={"consent": {"categories": ["marketing"]}})

    ready(event, consent_category="Marketing")
    assert refused(event, consent_category="Analytics").kind == "filtered"
