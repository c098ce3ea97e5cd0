"""Emulator: workspace rules — _timestamp ordering, anonymous merging, event id dedup."""

from __future__ import annotations

from typing import Any

from emulator_support import NOW, ULID_A, ULID_B, US, Clock, new_state, person, track_client

from signal_dest_cio.emulator import EmulatorState, Workspace


async def put(state: EmulatorState, user: str, body: dict[str, Any]) -> None:
    async with track_client(state) as client:
        assert (await client.put(f"/api/v1/customers/{user}", json=body)).status_code == 200


async def post(state: EmulatorState, path: str, body: dict[str, Any]) -> None:
    async with track_client(state) as client:
        assert (await client.post(path, json=body)).status_code == 200


async def test_an_update_older_than_the_last_applied_one_does_not_overwrite() -> None:
    state = new_state()
    await put(state, "u1", {"plan": "pro", "seats": 5, "_timestamp": 200})
    await put(state, "u1", {"plan": "trial", "city": "Oslo", "_timestamp": 100})
    # plan was set at 200; city had never been set, so the older update still sets it
    assert person(state, "u1")["attributes"] == {"plan": "pro", "seats": 5, "city": "Oslo"}
    await put(state, "u1", {"plan": "team", "_timestamp": 200})  # same time: applied
    assert person(state, "u1")["attributes"]["plan"] == "team"


async def test_v2_identify_timestamp_orders_updates_too() -> None:
    state = new_state()

    def item(plan: str, when: int) -> dict[str, Any]:
        return {
            "type": "person",
            "identifiers": {"id": "u1"},
            "action": "identify",
            "attributes": {"plan": plan},
            "timestamp": when,
        }

    await post(state, "/api/v2/batch", {"batch": [item("new", 20), item("old", 10)]})
    assert person(state, "u1")["attributes"] == {"plan": "new"}


async def test_an_update_without_timestamp_counts_as_arriving_now() -> None:
    clock = Clock(1000)
    state = new_state(clock)
    await put(state, "u1", {"plan": "now"})
    await put(state, "u1", {"plan": "stale", "_timestamp": 999})
    await put(state, "u1", {"plan": "later", "_timestamp": 1001})
    assert person(state, "u1")["attributes"] == {"plan": "later"}


async def test_anonymous_events_wait_then_merge_into_the_person_who_identifies_with_them() -> None:
    state = new_state()
    await post(
        state, "/api/v1/events", {"name": "/pricing", "type": "page", "anonymous_id": "anon-1"}
    )
    await post(state, "/api/v1/events", {"name": "other", "anonymous_id": "anon-2"})
    assert [e["anonymous_id"] for e in state.anonymous_view(US.site_id)] == ["anon-1", "anon-2"]
    await put(state, "u1", {"plan": "team", "anonymous_id": "anon-1"})
    u1 = person(state, "u1")
    assert [(e["type"], e["name"]) for e in u1["activity"]] == [("page", "/pricing")]
    assert u1["anonymous_ids"] == ["anon-1"] and "anonymous_id" not in u1["attributes"]
    assert [e["anonymous_id"] for e in state.anonymous_view(US.site_id)] == ["anon-2"]
    # later activity under a claimed anonymous id goes straight to its person
    await post(state, "/api/v1/events", {"name": "again", "anonymous_id": "anon-1"})
    assert [e["name"] for e in person(state, "u1")["activity"]] == ["/pricing", "again"]


async def test_v2_identify_with_attributes_anonymous_id_merges_v2_anonymous_events() -> None:
    state = new_state()
    anonymous = {
        "type": "person",
        "identifiers": {"anonymous_id": "anon-9"},
        "action": "screen",
        "name": "Onboarding",
    }
    claim = {
        "type": "person",
        "identifiers": {"email": "g@example.com"},
        "action": "identify",
        "attributes": {"anonymous_id": "anon-9"},
    }
    await post(state, "/api/v2/batch", {"batch": [anonymous]})
    await post(state, "/api/v2/entity", claim)
    assert [e["name"] for e in person(state, "g@example.com")["activity"]] == ["Onboarding"]
    assert state.anonymous_view(US.site_id) == []


async def test_merged_activity_is_ordered_by_timestamp() -> None:
    state = new_state()
    await post(state, "/api/v1/customers/u1/events", {"name": "late", "timestamp": 300})
    await post(state, "/api/v1/events", {"name": "early", "anonymous_id": "a", "timestamp": 100})
    await put(state, "u1", {"anonymous_id": "a"})
    assert [e["name"] for e in person(state, "u1")["activity"]] == ["early", "late"]


async def test_the_same_event_id_twice_is_stored_once_in_v1_and_v2() -> None:
    state = new_state()
    body = {"name": "paid", "id": ULID_A}
    await post(state, "/api/v1/customers/u1/events", body)
    await post(state, "/api/v1/customers/u1/events", body)
    item = {
        "type": "person",
        "identifiers": {"id": "u1"},
        "action": "event",
        "name": "paid",
        "id": ULID_A.lower(),  # ULIDs are case-insensitive
    }
    await post(state, "/api/v2/batch", {"batch": [item, item | {"id": ULID_B}]})
    assert [e["id"] for e in person(state, "u1")["activity"]] == [ULID_A, ULID_B]
    assert state.workspace_view(US.site_id)["duplicate_events_ignored"] == 2


async def test_events_without_an_id_are_never_deduplicated() -> None:
    state = new_state()
    for _ in range(2):
        await post(state, "/api/v1/customers/u1/events", {"name": "ping"})
    assert [e["timestamp"] for e in person(state, "u1")["activity"]] == [NOW, NOW]


async def test_event_ids_are_remembered_per_workspace() -> None:
    other = Workspace("other-site", "other-track", "other-app", "us")
    state = EmulatorState([US, other], clock=Clock())
    for workspace in (US, other):
        async with track_client(state, workspace=workspace) as client:
            body = {"name": "paid", "id": ULID_A}
            assert (await client.post("/api/v1/customers/u1/events", json=body)).is_success
    for workspace in (US, other):
        assert len(person(state, "u1", workspace)["activity"]) == 1


async def test_an_email_in_the_body_joins_the_person_named_in_the_path() -> None:
    state = new_state()
    await put(state, "x%40y.z", {"plan": "a"})
    await put(state, "u1", {"email": "X@y.z", "seats": 2})  # the body names an existing person
    [only] = state.people_view(US.site_id)
    assert only["identifiers"]["id"] == "u1" and only["identifiers"]["email"] == "x@y.z"
    assert only["attributes"] == {"plan": "a", "seats": 2}


async def test_an_email_held_by_someone_else_is_an_attribute_update_failure() -> None:
    state = new_state()
    await put(state, "u1", {"email": "a@b.co"})
    await put(state, "u2", {"email": "a@b.co", "plan": "x"})
    assert "email" not in person(state, "u2")["identifiers"]
    assert person(state, "u2")["attributes"] == {"plan": "x"}
    assert state.workspace_view(US.site_id)["failures"]


def test_state_refuses_duplicate_site_ids() -> None:
    try:
        EmulatorState([US, US])
    except ValueError as error:
        assert "unique" in str(error)
    else:
        raise AssertionError("duplicate site ids accepted")
