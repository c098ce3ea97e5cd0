"""The order-sensitive cases of SPEC 4.1, one by one: `deliver()` into the emulator with
one person's request failed on purpose, and the host holding a lane behind a retry."""

from __future__ import annotations

from collections import Counter
from typing import Any

from emulator_support import US, emulator_destination, new_state
from host_support import ADMIN, FakeCustomerIo, running_host, track

from signal_dest_cio import CustomerIoDestination
from signal_dest_cio.emulator import EmulatorState, Fault
from signal_dest_cio.host import RetryPolicy

WHEN = "2026-03-02T09:15:04Z"


def destination(state: EmulatorState, api: str) -> CustomerIoDestination:
    return emulator_destination(state, api)


def identify(message_id: str, user: str, **traits: Any) -> dict[str, Any]:
    return {"type": "identify", "messageId": message_id, "userId": user, "traits": traits,
            "timestamp": WHEN}  # fmt: skip


def alias(message_id: str, user: str, previous: str) -> dict[str, Any]:
    return {"type": "alias", "messageId": message_id, "userId": user, "previousId": previous,
            "timestamp": WHEN}  # fmt: skip


async def test_v1_an_alias_waits_for_the_identify_of_its_primary_and_then_merges() -> None:
    state = new_state()
    state.faults.add(Fault(kind="status", status=503, method="PUT",
                           path="/api/v1/customers/new-user"))  # fmt: skip
    events = [identify("m1", "old-id", legacy=True), identify("m2", "new-user", plan="pro"),
              alias("m3", "new-user", "old-id"), identify("m4", "bystander", plan="x")]  # fmt: skip
    async with destination(state, "v1") as dest:
        first = await dest.deliver(events)
        assert [(o.kind, o.code) for o in first] == [
            ("delivered", "ok"),
            ("retry", "server_error"),
            ("retry", "held"),
            ("delivered", "ok"),
        ]
        assert "m2" in first[2].message  # the held alias names what it waits for
        assert not any(r["path"] == "/api/v1/merge_customers" for r in state.request_log())
        again = await dest.deliver(events[1:3])  # what a host retries, in order
    assert [o.kind for o in again] == ["delivered", "delivered"]
    merges = state.workspace_view(US.site_id)["merges"]
    assert [(m["primary"]["id"], m["secondary"]["id"]) for m in merges] == [("new-user", "old-id")]
    assert state.person_view(US.site_id, "old-id") is None


async def test_v1_a_delete_waits_for_the_identify_before_it_so_the_person_stays_deleted() -> None:
    state = new_state()
    state.faults.add(Fault(kind="status", status=503, path="/api/v1/customers/u9"))
    deleted = {"type": "track", "messageId": "m2", "userId": "u9", "event": "User Deleted",
               "timestamp": WHEN}  # fmt: skip
    async with destination(state, "v1") as dest:
        first = await dest.deliver([identify("m1", "u9", plan="pro"), deleted])
        assert [o.code for o in first] == ["server_error", "held"]
        assert state.person_view(US.site_id, "u9") is None  # nothing was applied yet
        await dest.deliver([identify("m1", "u9", plan="pro"), deleted])
    assert state.person_view(US.site_id, "u9") is None  # deleted, and not recreated
    assert [d["id"] for d in state.workspace_view(US.site_id)["deleted"]] == ["u9"]


async def test_v2_an_identify_over_32_kb_goes_by_v1_before_the_alias_in_the_batch() -> None:
    state = new_state()
    blob = {f"field_{n}": "x" * 900 for n in range(40)}  # 36 KB: over the v2 item limit
    events = [identify("m1", "old-id", legacy=True), identify("m2", "new-user", **blob),
              alias("m3", "new-user", "old-id")]  # fmt: skip
    async with destination(state, "v2") as dest:
        outcomes = await dest.deliver(events)
    assert [o.kind for o in outcomes] == ["delivered"] * 3
    paths = [r["path"] for r in state.request_log()]
    assert paths == ["/api/v2/batch", "/api/v1/customers/new-user", "/api/v2/batch"]
    merges = state.workspace_view(US.site_id)["merges"]
    assert [(m["primary"]["id"], m["secondary"]["id"]) for m in merges] == [("new-user", "old-id")]


async def test_v2_a_failed_batch_holds_only_the_lanes_it_carried() -> None:
    state = new_state()
    blob = {f"field_{n}": "y" * 900 for n in range(40)}
    state.faults.add(Fault(kind="status", status=429, retry_after="3", method="PUT"))
    events = [identify("m1", "a", **blob), track(1, userId="b"), alias("m3", "a", "old-a")]
    async with destination(state, "v2") as dest:
        outcomes = await dest.deliver(events)
    assert [(o.kind, o.code) for o in outcomes] == [
        ("retry", "rate_limited"),
        ("delivered", "ok"),
        ("retry", "held"),
    ]
    assert outcomes[0].retry_after == 3


# -- the host: held, not attempted, released by a dead letter ---------------------------


async def test_the_host_holds_a_lane_behind_a_retry_and_a_dead_letter_releases_it() -> None:
    target = FakeCustomerIo()
    policy = RetryPolicy(max_attempts=2)
    async with running_host(target.transport, policy=policy) as host:
        installed = await host.install(api="v1")
        target.fail("status", status=429, retry_after="60")
        first = track(1, userId="p1", messageId="first")
        later = [track(n, userId="p1", messageId=f"later-{n}") for n in range(2, 5)]
        other = track(9, userId="someone-else", messageId="other")
        await host.send([first, *later, other])
        assert await host.worker.run_once() == 5  # first fails, later are held, other goes
        listed = {d["message_id"]: d for d in await host.deliveries(installed["id"])}
        assert listed["other"]["status"] == "delivered"
        for message_id in ("later-2", "later-3", "later-4"):
            held = listed[message_id]
            assert held["status"] == "pending" and held["attempts"] == 0
            assert held["history"][-1]["code"] == "held"
        host.clock.advance(1)  # not due yet: the walk finds them behind `first`
        await host.worker.run_once()
        listed = {d["message_id"]: d for d in await host.deliveries(installed["id"])}
        assert listed["later-3"]["held_by"] == {
            "delivery_id": listed["first"]["id"],
            "message_id": "first",
        }
        assert listed["later-3"]["attempts"] == 0 and listed["later-3"]["retry_seconds"] == 0
        sent_before = target.data_requests
        target.fail("status", status=429, retry_after="60")
        await host.worker.drain()  # first fails again (dead letter); the lane is released
        listed = {d["message_id"]: d for d in await host.deliveries(installed["id"])}
    assert listed["first"]["status"] == "dead_lettered"
    assert listed["first"]["reason"]["code"] == "retries_exhausted"
    for message_id in ("later-2", "later-3", "later-4"):
        record = listed[message_id]
        assert record["status"] == "delivered" and record["attempts"] == 1
        released = [h for h in record["history"] if h["kind"] == "released"]
        assert released and released[0]["released_by"]["message_id"] == "first"
    assert target.data_requests - sent_before == 4  # first once more, then the three
    assert Counter(target.accepted)["msg-2"] == 1


async def test_time_paused_uses_no_age_budget() -> None:
    target = FakeCustomerIo()
    async with running_host(target.transport) as host:
        installed = await host.install()
        target.track_key = "revoked"  # a 401 pauses the integration
        await host.send([track(1)])
        await host.worker.run_once()
        assert (await host.integration(installed["id"]))["status"] == "paused"
        host.clock.advance(25 * 3600)  # a day and more, paused
        target.track_key = "trk-HOST-SECRET-1111"
        resumed = await host.http.post(
            f"/v1/admin/integrations/{installed['id']}/resume", headers=ADMIN
        )
        assert resumed.status_code == 200
        target.fail("status", status=429, retry_after="5")
        await host.worker.run_once()
        [record] = await host.deliveries(installed["id"])
        assert record["status"] == "pending" and record["attempts"] == 1
        await host.worker.drain()
        [record] = await host.deliveries(installed["id"])
    assert record["status"] == "delivered"
