"""Emulator: where order matters — merges, deletes, devices — and the timing-free snapshot."""

from __future__ import annotations

import json
from typing import Any

from emulator_support import ULID_A, ULID_B, US, Clock, new_state, person, track_client

from signal_dest_cio.emulator import EmulatorState, Workspace

Op = tuple[str, str, dict[str, Any] | None]  # method, path, JSON body


async def run(state: EmulatorState, ops: list[Op], workspace: Workspace = US) -> None:
    """Send `ops` in order; the clock moves on a second per request, like real arrival."""
    async with track_client(state, workspace=workspace) as client:
        for method, path, body in ops:
            response = await client.request(method, path, json=body)
            assert response.status_code == 200, (method, path, response.text)
            if isinstance(state.clock, Clock):
                state.clock.now += 1


def notes_by_path(state: EmulatorState) -> list[tuple[str, list[str]]]:
    return [(r["path"], r["notes"]) for r in state.request_log()]


def v2(action: str, **fields: Any) -> dict[str, Any]:
    return {"type": "person", "action": action, **fields}


# -- merges whose primary does not exist --------------------------------------------


async def test_a_v1_merge_into_an_unknown_primary_does_nothing_and_notes_it() -> None:
    state = new_state()
    merge = {"primary": {"id": "new-user"}, "secondary": {"id": "old-user"}}
    await run(
        state,
        [
            ("PUT", "/api/v1/customers/old-user", {"plan": "pro"}),
            ("POST", "/api/v1/merge_customers", merge),
        ],
    )
    assert notes_by_path(state) == [
        ("/api/v1/customers/old-user", []),
        ("/api/v1/merge_customers", ["merge: primary id=new-user not found"]),
    ]
    assert state.person_view(US.site_id, "new-user") is None  # not created by the merge
    assert person(state, "old-user")["attributes"] == {"plan": "pro"}
    assert state.workspace_view(US.site_id)["merges"] == []


async def test_a_v2_batch_merge_into_an_unknown_primary_notes_its_batch_index() -> None:
    state = new_state()
    batch = [
        v2("identify", identifiers={"id": "old-user"}, attributes={"plan": "pro"}),
        v2("merge", primary={"id": "new-user"}, secondary={"id": "old-user"}),
    ]
    async with track_client(state) as client:
        response = await client.post("/api/v2/batch", json={"batch": batch})
        assert (response.status_code, response.json()) == (200, {})
        logged = (await client.get("/_emulator/requests")).json()["requests"]
    assert [r["notes"] for r in logged] == [["batch[1]: merge: primary id=new-user not found"]]
    assert state.person_view(US.site_id, "new-user") is None
    assert state.person_view(US.site_id, "old-user") is not None


async def test_the_same_merge_once_the_primary_exists_folds_the_secondary() -> None:
    state = new_state()
    merge = {"primary": {"id": "new-user"}, "secondary": {"id": "old-user"}}
    await run(
        state,
        [
            ("PUT", "/api/v1/customers/old-user", {"plan": "pro"}),
            ("PUT", "/api/v1/customers/new-user", {}),
            ("POST", "/api/v1/merge_customers", merge),
        ],
    )
    assert [notes for _, notes in notes_by_path(state)] == [[], [], []]
    assert person(state, "new-user")["attributes"] == {"plan": "pro"}
    assert state.person_view(US.site_id, "old-user") is None


# -- deletes -----------------------------------------------------------------------


async def test_an_identify_after_a_delete_recreates_the_person_afresh() -> None:
    state = new_state()
    await run(
        state,
        [
            ("PUT", "/api/v1/customers/u1", {"plan": "pro", "email": "u1@example.com"}),
            ("POST", "/api/v1/customers/u1/events", {"name": "paid", "id": ULID_A}),
        ],
    )
    old = person(state, "u1")["cio_id"]
    await run(
        state,
        [
            ("DELETE", "/api/v1/customers/u1", None),
            ("PUT", "/api/v1/customers/u1", {"seats": 2}),
        ],
    )
    again = person(state, "u1")
    assert again["cio_id"] != old
    assert again["identifiers"] == {"id": "u1", "cio_id": again["cio_id"]}  # no old email
    assert again["attributes"] == {"seats": 2} and again["activity"] == []
    assert state.person_view(US.site_id, f"cio_{old}") is None
    assert [d["id"] for d in state.workspace_view(US.site_id)["deleted"]] == ["u1"]


async def test_a_device_of_a_deleted_person_does_not_come_back_with_them() -> None:
    state = new_state()
    device = {"device": {"id": "tok-1", "platform": "ios"}}
    await run(
        state,
        [
            ("PUT", "/api/v1/customers/u1/devices", device),
            ("DELETE", "/api/v1/customers/u1", None),
            ("PUT", "/api/v1/customers/u1", {"plan": "x"}),
        ],
    )
    assert person(state, "u1")["devices"] == []
    assert all(p["devices"] == [] for p in state.people_view(US.site_id))


async def test_a_v2_device_of_a_deleted_person_is_gone_too() -> None:
    state = new_state()
    who = {"id": "u1"}
    batch = [
        v2("add_device", identifiers=who, device={"token": "tok-1", "platform": "android"}),
        v2("delete", identifiers=who),
        v2("identify", identifiers=who, attributes={"plan": "x"}),
    ]
    await run(state, [("POST", "/api/v2/batch", {"batch": batch})])
    assert person(state, "u1")["devices"] == []


async def test_an_event_for_a_deleted_persons_id_recreates_them_with_just_that_event() -> None:
    state = new_state()
    await run(state, [("PUT", "/api/v1/customers/u1", {"plan": "pro"})])
    old = person(state, "u1")["cio_id"]
    await run(
        state,
        [
            ("DELETE", "/api/v1/customers/u1", None),
            ("POST", "/api/v1/customers/u1/events", {"name": "came_back", "id": ULID_B}),
        ],
    )
    again = person(state, "u1")
    assert again["cio_id"] != old and again["attributes"] == {}
    assert [e["name"] for e in again["activity"]] == ["came_back"]


async def test_a_delete_of_nobody_and_an_unknown_cio_id_are_noted() -> None:
    state = new_state()
    await run(
        state,
        [
            ("DELETE", "/api/v1/customers/ghost", None),
            ("PUT", "/api/v1/customers/cio_ffffff", {"plan": "x"}),
        ],
    )
    assert [notes for _, notes in notes_by_path(state)] == [
        ["delete id=ghost: no such person"],
        ["identify cio_id=ffffff: no such person"],
    ]


# -- the snapshot --------------------------------------------------------------------

# Three lanes: people who touch each other (a merge joins b into a), c alone, and
# anonymous activity. Within a lane the order is fixed; lanes may interleave.
LANE_AB: list[Op] = [
    ("PUT", "/api/v1/customers/a", {"email": "a@example.com", "plan": "pro"}),
    ("PUT", "/api/v1/customers/a/devices", {"device": {"id": "tok-a", "platform": "ios"}}),
    ("POST", "/api/v1/customers/a/events", {"name": "paid", "id": ULID_A, "timestamp": 100}),
    ("POST", "/api/v1/customers/a/events", {"name": "ping"}),  # no id, no timestamp
    ("POST", "/api/v1/customers/a/events", {"name": "ping"}),
    ("PUT", "/api/v1/customers/b", {"city": "Oslo"}),
    (
        "PUT",
        "/api/v1/customers/b/devices",
        {"device": {"id": "tok-b", "platform": "android", "last_used": 50}},
    ),
    ("POST", "/api/v1/merge_customers", {"primary": {"id": "a"}, "secondary": {"id": "b"}}),
]
LANE_C: list[Op] = [
    ("PUT", "/api/v1/customers/c", {"plan": "trial"}),
    ("PUT", "/api/v1/customers/c/devices", {"device": {"id": "tok-c", "platform": "ios"}}),
    ("DELETE", "/api/v1/customers/c", None),
    ("PUT", "/api/v1/customers/c", {"plan": "again"}),
    (
        "POST",
        "/api/v2/entity",
        {
            "type": "object",
            "identifiers": {"object_type_id": "1", "object_id": "acme"},
            "action": "identify",
            "attributes": {"tier": "gold"},
            "cio_relationships": [
                {"identifiers": {"id": "c"}, "relationship_attributes": {"role": "admin"}}
            ],
        },
    ),
]
LANE_ANONYMOUS: list[Op] = [
    ("POST", "/api/v1/events", {"name": "/pricing", "type": "page", "anonymous_id": "anon-1"}),
    ("POST", "/api/v1/events", {"name": "/docs", "type": "page", "anonymous_id": "anon-2"}),
]


def one_lane_after_another() -> list[Op]:
    return LANE_C + LANE_ANONYMOUS + LANE_AB


def round_robin() -> list[Op]:
    lanes = [list(LANE_AB), list(LANE_ANONYMOUS), list(LANE_C)]
    ops: list[Op] = []
    while any(lanes):
        for lane in lanes:
            if lane:
                ops.append(lane.pop(0))
    return ops


async def snapshot_after(ops: list[Op], start: float) -> tuple[dict[str, Any], EmulatorState]:
    state = new_state(Clock(start))
    await run(state, ops)
    return state.snapshot(US.site_id), state


async def test_two_interleavings_of_the_same_lanes_give_equal_snapshots() -> None:
    first, one = await snapshot_after(one_lane_after_another(), 1_800_000_000)
    second, two = await snapshot_after(round_robin(), 1_900_000_000)
    assert one_lane_after_another() != round_robin()
    cio_ids = [
        {p["identifiers"].get("id"): p["cio_id"] for p in s.people_view(US.site_id)}
        for s in (one, two)
    ]
    assert cio_ids[0] != cio_ids[1]  # the emulator numbered people differently
    assert first == second
    # and the snapshot says what the workspace ended with
    assert [p["identifiers"] for p in first["people"]] == [
        {"email": "a@example.com", "id": "a"},
        {"id": "c"},
    ]
    a, c = first["people"]
    assert a["attributes"] == {"plan": "pro", "city": "Oslo"}
    assert a["devices"] == {
        "tok-a": {"platform": "ios", "attributes": {}},
        "tok-b": {"platform": "android", "attributes": {}, "last_used": 50},
    }
    assert a["activity"] == [
        ["event", "paid", ULID_A, {}, 100],
        ["event", "ping", None, {}, None],
        ["event", "ping", None, {}, None],
    ]
    assert c["attributes"] == {"plan": "again"} and c["devices"] == {}
    assert first["merges"] == [
        {"primary": {"id": "a", "email": "a@example.com"}, "secondary": {"id": "b"}}
    ]
    assert first["deleted"] == [{"id": "c"}]
    assert [row[0] for row in first["anonymous"]] == ["anon-1", "anon-2"]
    [acme] = first["objects"]
    assert acme["relationships"] == [{"identifiers": {"id": "c"}, "attributes": {"role": "admin"}}]
    text = json.dumps(first)
    assert not any(cio in text for ids in cio_ids for cio in ids.values())


async def test_a_lost_merge_changes_the_snapshot() -> None:
    ops = one_lane_after_another()
    without_merge = [op for op in ops if op[1] != "/api/v1/merge_customers"]
    with_merge, _ = await snapshot_after(ops, 1_800_000_000)
    lost, _ = await snapshot_after(without_merge, 1_800_000_000)
    assert with_merge != lost


async def test_a_deleted_person_coming_back_changes_the_snapshot() -> None:
    ops = one_lane_after_another()
    delete = ("DELETE", "/api/v1/customers/c", None)
    without_delete = [op for op in ops if op != delete]
    kept, _ = await snapshot_after(ops, 1_800_000_000)
    came_back, _ = await snapshot_after(without_delete, 1_800_000_000)
    assert kept != came_back


async def test_reordering_within_a_lane_changes_the_snapshot() -> None:
    ops = one_lane_after_another()
    swapped = [op for op in ops if op[1] != "/api/v1/customers/c/devices"]
    swapped.insert(swapped.index(("DELETE", "/api/v1/customers/c", None)) + 1, LANE_C[1])
    before, _ = await snapshot_after(ops, 1_800_000_000)
    after, _ = await snapshot_after(swapped, 1_800_000_000)
    assert before != after  # a device added after the delete belongs to the new c


async def test_snapshot_over_http_equals_the_state_and_ignores_the_site_id() -> None:
    control = Workspace("control-site", "control-track", "control-app", "us")
    state = EmulatorState([US, control], clock=Clock())
    await run(state, round_robin())
    await run(state, one_lane_after_another(), workspace=control)
    async with track_client(state) as client:
        answer = await client.get(f"/_emulator/workspaces/{US.site_id}/snapshot")
        missing = await client.get("/_emulator/workspaces/nope/snapshot")
    assert answer.status_code == 200 and answer.json() == state.snapshot(US.site_id)
    assert missing.status_code == 404
    assert state.snapshot(US.site_id) == state.snapshot("control-site")
