"""Emulator: objects, relationships (anonymous ones too) and delivery metrics, applied and
validated like Customer.io; and the destination's SPEC 3.1 events landing in it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from emulator_support import (
    NOW,
    US,
    emulator_destination,
    new_state,
    person,
    track_client,
)

from signal_dest_cio import CustomerIoDestination
from signal_dest_cio.emulator import EmulatorState

ACME = {"object_type_id": "1", "object_id": "acme"}
WHEN = "2026-03-02T09:15:04Z"
WHEN_UNIX = 1_772_442_904


async def post(state: EmulatorState, path: str, body: Any, **kwargs: Any) -> httpx.Response:
    async with track_client(state, **kwargs) as client:
        return await client.post(path, json=body)


def anonymous_group(anonymous_id: str = "anon-1", **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "identifiers": ACME,
        "action": "identify_anonymous",
        "attributes": {"name": "Acme"},
        "cio_relationships": [
            {"identifiers": {"anonymous_id": anonymous_id}, "relationship_attributes": extra}
        ],
    }


def relationships_of(state: EmulatorState, identifier: str) -> list[tuple[str, Any]]:
    return [
        (r["object_id"], r["relationship_attributes"])
        for r in person(state, identifier)["relationships"]
    ]


# --- identify_anonymous -----------------------------------------------------------


async def test_an_anonymous_relationship_waits_until_an_identify_claims_its_anonymous_id() -> None:
    state = new_state()
    assert (await post(state, "/api/v2/entity", anonymous_group(role="viewer"))).status_code == 200
    [acme] = state.objects_view(US.site_id)
    assert acme["attributes"] == {"name": "Acme"} and acme["relationships"] == []
    assert acme["anonymous_relationships"] == [
        {"identifiers": {"anonymous_id": "anon-1"}, "relationship_attributes": {"role": "viewer"}}
    ]

    async with track_client(state) as client:  # a v1 identify carrying the anonymous id
        await client.put("/api/v1/customers/u1", json={"anonymous_id": "anon-1"})

    assert relationships_of(state, "u1") == [("acme", {"role": "viewer"})]
    assert state.objects_view(US.site_id)[0]["anonymous_relationships"] == []


async def test_a_v2_identify_claims_anonymous_relationships_too() -> None:
    state = new_state()
    claim = {
        "type": "person",
        "identifiers": {"email": "g@example.com"},
        "action": "identify",
        "attributes": {"anonymous_id": "anon-1"},
    }
    await post(state, "/api/v2/batch", {"batch": [anonymous_group(), claim]})

    assert relationships_of(state, "g@example.com") == [("acme", {})]


async def test_an_anonymous_id_someone_holds_already_relates_them_at_once() -> None:
    state = new_state()
    async with track_client(state) as client:
        await client.put("/api/v1/customers/u1", json={"anonymous_id": "anon-1"})
    await post(state, "/api/v2/entity", anonymous_group(role="owner"))

    assert relationships_of(state, "u1") == [("acme", {"role": "owner"})]
    assert state.objects_view(US.site_id)[0]["anonymous_relationships"] == []


async def test_the_published_examples_top_level_anonymous_id_is_taken_too() -> None:
    state = new_state()
    item = {"type": "object", "identifiers": ACME, "action": "identify_anonymous"}

    assert (await post(state, "/api/v2/entity", item | {"anonymous_id": "a9"})).status_code == 200
    [acme] = state.objects_view(US.site_id)
    assert acme["anonymous_relationships"][0]["identifiers"] == {"anonymous_id": "a9"}


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"type": "object", "identifiers": ACME, "action": "identify_anonymous"},
         "cio_relationships"),
        (anonymous_group() | {"cio_relationships": [{"identifiers": {"id": "u1"}}]},
         "cio_relationships[0].identifiers"),
        (anonymous_group(7), "cio_relationships[0].identifiers.anonymous_id"),  # type: ignore[arg-type]
        (anonymous_group("a" * 151), "cio_relationships[0].identifiers.anonymous_id"),
        (anonymous_group(long="x" * 1001), "cio_relationships[0].relationship_attributes.long"),
    ],
)  # fmt: skip
async def test_a_bad_identify_anonymous_is_400_and_changes_nothing(
    item: dict[str, Any], field: str
) -> None:
    state = new_state()
    response = await post(state, "/api/v2/entity", item)

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
    assert state.objects_view(US.site_id) == []


# --- deleting objects and relationships ---------------------------------------------


async def related_acme(state: EmulatorState) -> None:
    group = {
        "type": "object",
        "identifiers": ACME,
        "action": "identify",
        "attributes": {"name": "Acme"},
        "cio_relationships": [{"identifiers": {"id": "u1"}, "relationship_attributes": {"r": 1}}],
    }
    assert (await post(state, "/api/v2/entity", group)).status_code == 200
    assert relationships_of(state, "u1") == [("acme", {"r": 1})]


async def test_an_object_delete_takes_the_object_and_its_relationships() -> None:
    state = new_state()
    await related_acme(state)
    await post(state, "/api/v2/entity", anonymous_group("anon-7"))

    delete = {"type": "object", "identifiers": ACME, "action": "delete"}
    assert (await post(state, "/api/v2/entity", delete)).status_code == 200

    assert state.objects_view(US.site_id) == []
    assert person(state, "u1")["relationships"] == []
    again = await post(state, "/api/v2/entity", delete)  # nothing left: a 200, and a note
    assert again.status_code == 200
    assert "no such object" in state.request_log()[-1]["notes"][0]


@pytest.mark.parametrize(
    "item",
    [
        {
            "type": "person",
            "identifiers": {"id": "u1"},
            "action": "delete_relationships",
            "cio_relationships": [{"identifiers": ACME}],
        },
        {
            "type": "object",
            "identifiers": ACME,
            "action": "delete_relationships",
            "cio_relationships": [{"identifiers": {"id": "u1"}}],
        },
    ],
)
async def test_delete_relationships_in_person_or_object_form_unrelates_them(
    item: dict[str, Any],
) -> None:
    state = new_state()
    await related_acme(state)

    assert (await post(state, "/api/v2/batch", {"batch": [item]})).status_code == 200

    assert person(state, "u1")["relationships"] == []
    assert state.objects_view(US.site_id)[0]["attributes"] == {"name": "Acme"}  # object stays


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"type": "object", "identifiers": ACME, "action": "delete_relationships"},
         "cio_relationships"),
        ({"type": "person", "identifiers": {"id": "u1"}, "action": "delete_relationships"},
         "cio_relationships"),
        ({"type": "person", "identifiers": {"id": "u1"}, "action": "delete_relationships",
          "cio_relationships": [{"identifiers": {"object_id": "acme"}}]},
         "cio_relationships[0].identifiers.object_type_id"),
        ({"type": "person", "identifiers": {"id": "u1"}, "action": "identify",
          "cio_relationships": [{"identifiers": {"object_type_id": "1"}}]},
         "cio_relationships[0].identifiers.object_id"),
    ],
)  # fmt: skip
async def test_relationship_items_without_their_objects_are_400(
    item: dict[str, Any], field: str
) -> None:
    state = new_state()
    response = await post(state, "/api/v2/entity", item)

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field


async def test_a_null_relationship_attribute_removes_it() -> None:
    state = new_state()
    await related_acme(state)
    update = {
        "type": "person",
        "identifiers": {"id": "u1"},
        "action": "add_relationships",
        "cio_relationships": [
            {"identifiers": ACME, "relationship_attributes": {"r": None, "s": 2}}
        ],
    }
    await post(state, "/api/v2/entity", update)

    assert relationships_of(state, "u1") == [("acme", {"s": 2})]


# --- metrics ----------------------------------------------------------------------


async def test_a_metric_is_recorded_on_the_delivery_it_names() -> None:
    state = new_state()
    body = {"delivery_id": "dlv-1", "metric": "clicked", "timestamp": 100, "href": "https://x.io"}

    response = await post(state, "/api/v1/metrics", body)
    await post(state, "/api/v1/metrics", {"delivery_id": "dlv-1", "metric": "opened"})

    assert (response.status_code, response.json()) == (200, {})
    assert state.deliveries_view(US.site_id) == [
        {
            "delivery_id": "dlv-1",
            "metrics": [
                {"metric": "clicked", "timestamp": 100, "href": "https://x.io"},
                {"metric": "opened", "timestamp": NOW},  # no timestamp: when it arrived
            ],
            "repeats": 0,
        }
    ]
    async with track_client(state) as client:
        shown = await client.get(f"/_emulator/workspaces/{US.site_id}/deliveries")
    assert shown.json() == {"deliveries": state.deliveries_view(US.site_id)}


async def test_a_metric_reported_again_keeps_the_first_and_counts_the_repeat() -> None:
    state = new_state()
    for when in (100, 200):
        body = {"delivery_id": "dlv-1", "metric": "opened", "timestamp": when}
        assert (await post(state, "/api/v1/metrics", body)).status_code == 200

    [delivery] = state.deliveries_view(US.site_id)
    assert delivery["metrics"] == [{"metric": "opened", "timestamp": 100}]
    assert delivery["repeats"] == 1
    assert "reported before" in state.request_log()[-1]["notes"][0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"metric": "opened"}, "delivery_id"),
        ({"delivery_id": "", "metric": "opened"}, "delivery_id"),
        ({"delivery_id": "d", "metric": "sent"}, "metric"),
        ({"delivery_id": "d"}, "metric"),
        ({"delivery_id": "d", "metric": "opened", "timestamp": "now"}, "timestamp"),
        ({"delivery_id": "d", "metric": "opened", "href": 5}, "href"),
        ({"delivery_id": "d", "metric": "opened", "recipient": ["a"]}, "recipient"),
    ],
)
async def test_a_bad_metric_body_is_400_naming_the_field(body: dict[str, Any], field: str) -> None:
    state = new_state()
    response = await post(state, "/api/v1/metrics", body)

    assert response.status_code == 400
    assert response.json()["meta"]["errors"][0].startswith(f"{field}:")
    assert state.deliveries_view(US.site_id) == []


async def test_metrics_need_the_workspaces_key_here() -> None:
    response = await post(
        new_state(), "/api/v1/metrics", {"delivery_id": "d", "metric": "opened"}, workspace=None
    )
    assert response.status_code == 401


async def test_the_snapshot_holds_deliveries_and_waiting_relationships() -> None:
    state = new_state()
    await post(state, "/api/v1/metrics", {"delivery_id": "d1", "metric": "bounced", "reason": "x"})
    await post(state, "/api/v1/metrics", {"delivery_id": "d1", "metric": "opened", "timestamp": 5})
    await post(state, "/api/v2/entity", anonymous_group(role="viewer"))

    snapshot = state.snapshot(US.site_id)

    assert snapshot["deliveries"] == {
        "d1": {"bounced": {"timestamp": None, "reason": "x"}, "opened": {"timestamp": 5}}
    }
    [acme] = snapshot["objects"]
    assert acme["anonymous_relationships"] == {"anon-1": {"role": "viewer"}}
    async with track_client(state) as client:
        shown = await client.get(f"/_emulator/workspaces/{US.site_id}/snapshot")
    assert shown.json() == snapshot


# --- the destination's SPEC 3.1 events, end to end -----------------------------------


def destination(state: EmulatorState, api: str) -> CustomerIoDestination:
    return emulator_destination(state, api)


def object_journey() -> list[dict[str, Any]]:
    """An anonymous visitor joins a team, signs up, is related to a second object through
    an identify, leaves the first, and the second is deleted."""
    return [
        {"type": "group", "messageId": "o1", "anonymousId": "anon-1", "groupId": "acme",
         "timestamp": WHEN, "traits": {"name": "Acme", "relationshipAttributes": {"role": "v"}}},
        {"type": "identify", "messageId": "o2", "userId": "u1", "anonymousId": "anon-1",
         "timestamp": WHEN, "traits": {"plan": "pro", "objectId": "beta", "objectTypeId": "2",
                                       "relationshipAttributes": {"seat": 1}}},
        {"type": "screen", "messageId": "o3", "userId": "u1", "name": "Home", "timestamp": WHEN},
        {"type": "track", "messageId": "o4", "userId": "u1", "event": "Relationship Deleted",
         "timestamp": WHEN, "properties": {"objectId": "acme"}},
        {"type": "track", "messageId": "o5", "event": "Object Deleted", "timestamp": WHEN,
         "properties": {"objectId": "gone", "objectTypeId": "3"}},
        {"type": "group", "messageId": "o6", "userId": "u1", "groupId": "gone",
         "timestamp": "2026-03-01T00:00:00Z", "traits": {"objectTypeId": "3"}},
    ]  # fmt: skip


@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_objects_and_relationships_land_in_both_api_modes(api: str) -> None:
    state = new_state()
    events = object_journey()
    events.insert(4, events.pop())  # the "gone" object exists before it is deleted

    async with destination(state, api) as dest:
        outcomes = await dest.deliver(events)

    assert [o.kind for o in outcomes] == ["delivered"] * 6, outcomes
    u1 = person(state, "u1")
    assert u1["attributes"] == {"plan": "pro"}
    assert [(r["object_id"], r["relationship_attributes"]) for r in u1["relationships"]] == [
        ("beta", {"seat": 1})
    ]
    objects = {o["object_id"]: o for o in state.objects_view(US.site_id)}
    assert set(objects) == {"acme", "beta"}
    assert objects["acme"]["attributes"] == {"name": "Acme"}
    assert objects["acme"]["relationships"] == [] == objects["acme"]["anonymous_relationships"]
    assert [(e["type"], e["name"]) for e in u1["activity"]] == [("screen", "Home")]
    if api == "v1":  # the screen is a v1 event; objects and relationships the entity item
        paths = [r["path"] for r in state.request_log()]
        assert "/api/v1/customers/u1/events" in paths
        assert paths.count("/api/v2/entity") == 5


async def test_a_delivery_metric_lands_on_its_delivery_in_v1_mode() -> None:
    state = new_state()
    event = {
        "type": "track",
        "messageId": "d1",
        "event": "Report Delivery Event",
        "timestamp": WHEN,
        "properties": {"deliveryId": "dlv-9", "metric": "Opened", "recipient": "tok-1"},
    }

    async with destination(state, "v1") as dest:
        [outcome] = await dest.deliver([event])

    assert outcome.kind == "delivered", outcome
    assert state.deliveries_view(US.site_id) == [
        {
            "delivery_id": "dlv-9",
            "metrics": [{"metric": "opened", "timestamp": WHEN_UNIX, "recipient": "tok-1"}],
            "repeats": 0,
        }
    ]


async def test_a_delivery_metric_lands_on_its_delivery_in_v2_mode() -> None:
    state = new_state()
    event = {
        "type": "track",
        "event": "Report Delivery Event",
        "properties": {"deliveryId": "dlv-9", "metric": "opened"},
    }

    async with destination(state, "v2") as dest:
        [outcome] = await dest.deliver([event])

    assert outcome.kind == "delivered", outcome
    assert [d["delivery_id"] for d in state.deliveries_view(US.site_id)] == ["dlv-9"]
