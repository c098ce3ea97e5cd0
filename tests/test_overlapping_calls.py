"""Order per identity (SPEC 4.1) across `deliver()` calls that overlap: a caller may map
and send its next events while the last ones are still out. A lane of the later call
that shares an identifier with the earlier one waits for it, and is held behind what it
left unsettled; a lane that shares nothing goes at once. Against the emulator, with the
earlier call's request kept waiting at the transport until the test lets it go."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from emulator_support import US, US_BASE, app_for, new_state

from signal_dest_cio import CustomerIoDestination
from signal_dest_cio.emulator import EmulatorState, Fault

WHEN = "2026-03-02T09:15:04Z"
MARK = "first-call"  # in the body of the request the gate keeps waiting


class Gate(httpx.AsyncBaseTransport):
    """The emulator in process; a request whose body holds MARK waits until `open()`."""

    def __init__(self, state: EmulatorState) -> None:
        self.inner = httpx.ASGITransport(app=app_for(state, "us"))
        self.opened = asyncio.Event()
        self.bodies: list[bytes] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        self.bodies.append(body)
        if MARK.encode() in body:
            await self.opened.wait()
        return await self.inner.handle_async_request(request)

    def saw(self, text: str) -> bool:
        return any(text.encode() in body for body in self.bodies)

    async def until_seen(self, text: str) -> None:
        for _ in range(500):
            if self.saw(text):
                return
            await asyncio.sleep(0.002)
        raise AssertionError(f"no request carried {text!r}")


def destination(gate: Gate, api: str) -> CustomerIoDestination:
    config = {"site_id": US.site_id, "tracking_api_key": US.track_api_key,
              "api_key": US.app_api_key, "region": "us", "api": api,
              "track_api_base_url": US_BASE, "app_api_base_url": US_BASE}  # fmt: skip
    return CustomerIoDestination(config, transport=gate, app_transport=gate)


def identify(message_id: str, user: str, **traits: Any) -> dict[str, Any]:
    return {"type": "identify", "messageId": message_id, "userId": user, "traits": traits,
            "timestamp": WHEN}  # fmt: skip


def track(message_id: str, user: str, name: str) -> dict[str, Any]:
    return {"type": "track", "messageId": message_id, "userId": user, "event": name,
            "properties": {"seen_in": message_id}, "timestamp": WHEN}  # fmt: skip


async def _overlap(
    dest: CustomerIoDestination, gate: Gate, first: list[Any], second: list[Any], free: str
) -> tuple[asyncio.Task[Any], asyncio.Task[Any]]:
    """`first` sent and kept waiting; `second` started meanwhile, and what shares nothing
    with `first` (a request carrying `free`) seen going out."""
    one = asyncio.ensure_future(dest.deliver(first))
    await gate.until_seen(MARK)
    two = asyncio.ensure_future(dest.deliver(second))
    await gate.until_seen(free)
    return one, two


def _u1_then_u1_and_u2() -> tuple[list[Any], list[Any], str]:
    """u1 in the earlier call; u1 again (plan "pro") and u2 in the later one."""
    first = [identify("m1", "u1", plan="free", marker=MARK)]
    second = [identify("m2", "u1", plan="pro"), identify("m3", "u2", plan="x")]
    return first, second, '"u2"'


async def test_v2_a_later_call_sends_a_persons_event_only_after_the_earlier_call_is_answered(
) -> None:  # fmt: skip
    state = new_state()
    gate = Gate(state)
    async with destination(gate, "v2") as dest:
        one, two = await _overlap(dest, gate, *_u1_then_u1_and_u2())
        await asyncio.sleep(0.05)
        assert not gate.saw('"pro"')  # u1's later event waits for the earlier call
        gate.opened.set()
        first, second = await one, await two
    assert [o.kind for o in [*first, *second]] == ["delivered"] * 3
    assert gate.bodies.index(next(b for b in gate.bodies if b'"pro"' in b)) == 2
    person = state.person_view(US.site_id, "u1")
    assert person is not None and person["attributes"]["plan"] == "pro"


async def test_v2_a_later_call_is_held_behind_an_earlier_calls_retry_and_never_sent() -> None:
    state = new_state()
    state.faults.add(Fault(kind="status", status=503, body_contains=MARK))
    gate = Gate(state)
    async with destination(gate, "v2") as dest:
        one, two = await _overlap(
            dest, gate,
            [identify("m1", "u1", plan="free", marker=MARK)],
            [track("m2", "u1", "Upgraded"), identify("m3", "u2", plan="x")],
            free='"u2"',
        )  # fmt: skip
        gate.opened.set()
        first, second = await one, await two
    assert [(o.kind, o.code) for o in first] == [("retry", "server_error")]
    assert [(o.kind, o.code) for o in second] == [("retry", "held"), ("delivered", "ok")]
    assert "m1" in second[0].message and "earlier call" in second[0].message
    assert not gate.saw("Upgraded")  # held, so never sent: the host sends it after m1
    assert state.person_view(US.site_id, "u1") is None
    assert state.person_view(US.site_id, "u2") is not None


async def test_v1_the_held_lane_follows_a_merge_and_other_lanes_of_the_call_still_go() -> None:
    state = new_state()
    state.faults.add(Fault(kind="status", status=429, retry_after="3", body_contains=MARK))
    gate = Gate(state)
    alias = {"type": "alias", "messageId": "m2", "userId": "u1", "previousId": "anon-7",
             "timestamp": WHEN}  # fmt: skip
    async with destination(gate, "v1") as dest:
        one, two = await _overlap(
            dest, gate,
            [identify("m1", "u1", plan="free", marker=MARK)],
            [alias, track("m3", "anon-7", "Viewed"), identify("m4", "u3", plan="y")],
            free='"y"',
        )  # fmt: skip
        gate.opened.set()
        first, second = await one, await two
    assert first[0].code == "rate_limited"
    # The alias shares u1 with the earlier call, the track shares anon-7 with the alias.
    assert [o.code for o in second] == ["held", "held", "ok"]
    assert not any(r["path"] == "/api/v1/merge_customers" for r in state.request_log())


async def test_a_call_made_after_an_earlier_one_ended_is_not_held_by_it() -> None:
    """The destination holds nothing across calls that do not overlap: the host's own
    barrier does (`LaneBarrier`), and sends the held events again in order."""
    state = new_state()
    state.faults.add(Fault(kind="status", status=503, body_contains=MARK))
    gate = Gate(state)
    gate.opened.set()
    async with destination(gate, "v2") as dest:
        [first] = await dest.deliver([identify("m1", "u1", plan="free", marker=MARK)])
        [second] = await dest.deliver([identify("m2", "u1", plan="pro")])
    assert (first.code, second.code) == ("server_error", "ok")


async def test_a_cancelled_earlier_call_holds_what_overlaps_it() -> None:
    state = new_state()
    gate = Gate(state)
    async with destination(gate, "v2") as dest:
        one, two = await _overlap(dest, gate, *_u1_then_u1_and_u2())
        one.cancel()
        second = await two
        # The cut-short call's person is clear again for a later call.
        [third] = await dest.deliver([identify("m4", "u1", plan="team")])
    assert [(o.kind, o.code) for o in second] == [("retry", "held"), ("delivered", "ok")]
    assert third.kind == "delivered"
    assert not gate.saw('"pro"')
