"""Emulator: Track API v2 entity and batch, error shapes, 207 partial batches, objects."""

from __future__ import annotations

from typing import Any

import pytest
from emulator_support import ULID_A, US, new_state, person, track_client

from signal_dest_cio.emulator import EmulatorState


def identify(user: str, **attributes: Any) -> dict[str, Any]:
    return {
        "type": "person",
        "identifiers": {"id": user},
        "action": "identify",
        "attributes": attributes,
    }


def event(user: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "person", "identifiers": {"id": user}, "action": "event", "name": name, **extra}


async def post(state: EmulatorState, path: str, body: Any = None, **kwargs: Any) -> Any:
    async with track_client(state) as client:
        return await client.post(path, json=body, **kwargs)


async def test_entity_applies_one_item() -> None:
    state = new_state()
    response = await post(state, "/api/v2/entity", identify("u1", plan="pro"))
    assert (response.status_code, response.json()) == (200, {})
    assert person(state, "u1")["attributes"] == {"plan": "pro"}


async def test_entity_errors_use_the_v2_shape() -> None:
    response = await post(new_state(), "/api/v2/entity", event("u1", ""))
    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"reason": "required", "field": "name", "message": "is required"}]
    }


async def test_entity_over_32kb_is_413() -> None:
    big = identify("u1", **{f"a{i}": "v" * 900 for i in range(40)})
    response = await post(new_state(), "/api/v2/entity", big)
    assert response.status_code == 413
    assert response.json()["errors"][0]["reason"] == "too_large"


async def test_batch_applies_every_operation_kind() -> None:
    state = new_state()
    batch = [
        identify("u1", plan="pro"),
        event("u1", "signed_up", id=ULID_A, timestamp=10, attributes={"a": 1}),
        {"type": "person", "identifiers": {"id": "u1"}, "action": "page", "name": "/home"},
        {"type": "person", "identifiers": {"id": "u1"}, "action": "screen", "name": "Home"},
        {
            "type": "person",
            "identifiers": {"id": "u1"},
            "action": "add_device",
            "device": {"token": "t1", "platform": "android", "last_used": 7},
        },
        {
            "type": "person",
            "identifiers": {"anonymous_id": "anon-1"},
            "action": "event",
            "name": "browsed",
        },
        identify("u2", city="Oslo"),
        {"type": "person", "action": "merge", "primary": {"id": "u1"}, "secondary": {"id": "u2"}},
    ]
    response = await post(state, "/api/v2/batch", {"batch": batch})
    assert (response.status_code, response.json()) == (200, {})
    u1 = person(state, "u1")
    assert u1["attributes"] == {"plan": "pro", "city": "Oslo"}
    assert [(e["type"], e["name"]) for e in u1["activity"]] == [
        ("event", "signed_up"),
        ("page", "/home"),
        ("screen", "Home"),
    ]
    assert u1["devices"][0]["token"] == "t1" and u1["devices"][0]["last_used"] == 7
    assert state.person_view(US.site_id, "u2") is None
    assert [e["name"] for e in state.anonymous_view(US.site_id)] == ["browsed"]


async def test_batch_device_delete_suppress_unsuppress_and_delete() -> None:
    state = new_state()
    ops = [
        {
            "type": "person",
            "identifiers": {"id": "u1"},
            "action": "add_device",
            "device": {"token": "t1", "platform": "ios"},
        },
        {
            "type": "person",
            "identifiers": {"id": "u1"},
            "action": "delete_device",
            "device": {"token": "t1"},
        },
        {"type": "person", "identifiers": {"id": "u1"}, "action": "suppress"},
    ]
    assert (await post(state, "/api/v2/batch", {"batch": ops})).status_code == 200
    assert person(state, "u1")["devices"] == [] and person(state, "u1")["suppressed"]
    ops = [
        {"type": "person", "identifiers": {"id": "u1"}, "action": "unsuppress"},
        {"type": "person", "identifiers": {"id": "u1"}, "action": "delete"},
    ]
    assert (await post(state, "/api/v2/batch", {"batch": ops})).status_code == 200
    assert state.person_view(US.site_id, "u1") is None


async def test_partially_bad_batch_is_207_listing_bad_items_and_applying_good_ones() -> None:
    state = new_state()
    batch = [
        identify("u1", plan="pro"),
        event("u1", "x" * 101),
        {"type": "person", "identifiers": {"id": "u1", "email": "a@b.co"}, "action": "identify"},
        event("u1", "ok", id="bad-ulid"),
        identify("u2", **{"big": "v" * 1001}),
        {"type": "person", "identifiers": {"id": "u3"}, "action": "fly"},
        event("u1", "kept"),
    ]
    response = await post(state, "/api/v2/batch", {"batch": batch})
    assert response.status_code == 207
    errors = response.json()["errors"]
    assert [(e["batch_index"], e["field"], e["reason"]) for e in errors] == [
        (1, "name", "too_long"),
        (2, "identifiers", "invalid"),
        (3, "id", "invalid"),
        (4, "attributes.big", "too_large"),
        (5, "action", "invalid"),
    ]
    assert all(isinstance(e["message"], str) and e["message"] for e in errors)
    assert [e["name"] for e in person(state, "u1")["activity"]] == ["kept"]
    assert state.person_view(US.site_id, "u2") is None


async def test_a_batch_item_over_32kb_is_listed_in_a_207() -> None:
    state = new_state()
    big = event("u1", "big", attributes={"k": "v" * (33 * 1024)})
    response = await post(state, "/api/v2/batch", {"batch": [event("u1", "small"), big]})
    assert response.status_code == 207
    assert response.json()["errors"][0]["batch_index"] == 1
    assert response.json()["errors"][0]["reason"] == "too_large"


async def test_a_batch_over_500kb_is_413_and_nothing_is_applied() -> None:
    state = new_state()
    items = [event("u1", f"e{i}", attributes={"k": "v" * 20_000}) for i in range(26)]
    response = await post(state, "/api/v2/batch", {"batch": items})
    assert response.status_code == 413
    assert state.people_view(US.site_id) == []


@pytest.mark.parametrize("body", [[], {"batch": []}, {"batch": {"a": 1}}, {"items": [1]}, "x"])
async def test_a_body_that_is_not_a_batch_is_400(body: Any) -> None:
    response = await post(new_state(), "/api/v2/batch", body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "batch"


async def test_malformed_json_batch_is_400_with_v2_errors() -> None:
    async with track_client(new_state()) as client:
        response = await client.post("/api/v2/batch", content=b'{"batch": [')
    assert response.status_code == 400
    assert response.json()["errors"][0]["reason"] == "invalid"


async def test_group_object_identify_stores_object_and_relationship() -> None:
    state = new_state()
    group = {
        "type": "object",
        "identifiers": {"object_type_id": "1", "object_id": "acme"},
        "action": "identify",
        "attributes": {"name": "Acme", "seats": 5},
        "cio_relationships": [{"identifiers": {"id": "u1"}}],
    }
    assert (await post(state, "/api/v2/entity", group)).status_code == 200
    [stored] = state.objects_view(US.site_id)
    assert stored["object_id"] == "acme" and stored["attributes"] == {"name": "Acme", "seats": 5}
    assert stored["relationships"][0]["identifiers"]["id"] == "u1"
    assert person(state, "u1")["relationships"][0]["object_id"] == "acme"


async def test_object_without_object_id_is_400() -> None:
    item = {"type": "object", "identifiers": {"object_type_id": "1"}, "action": "identify"}
    response = await post(new_state(), "/api/v2/entity", item)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "identifiers.object_id"
