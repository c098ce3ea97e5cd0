"""Lanes (SPEC 4.1): which events share one, the barrier that holds one, and `deliver()`
keeping each lane in order under any pattern of failures."""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signal_dest_cio import CustomerIoDestination
from signal_dest_cio.config import CustomerIoConfig
from signal_dest_cio.lanes import LaneBarrier, lane_groups, lane_keys
from signal_dest_cio.mapping import map_event
from signal_dest_cio.operations import Mapped

_sites = itertools.count()
TIMESTAMP = "2024-05-01T12:00:00Z"

# -- the pure part: lane_groups and the barrier --------------------------------------------

key_lists = st.lists(st.lists(st.sampled_from("abcdefghij"), max_size=3), max_size=30)


@given(key_lists)
def test_lanes_partition_events_in_input_order_and_never_share_a_key(
    keys: list[list[str]],
) -> None:
    lanes = lane_groups(keys)
    assert sorted(i for lane in lanes for i in lane) == list(range(len(keys)))
    assert all(lane == sorted(lane) for lane in lanes)
    owned = [set().union(*(set(keys[i]) for i in lane)) for lane in lanes]
    for first, second in itertools.combinations(owned, 2):
        assert not first & second  # one identifier is never in two lanes


def test_lanes_join_transitively_and_keyless_events_stand_alone() -> None:
    keys = [["a:anon"], ["p:old"], ["p:x"], ["p:u1", "a:anon"], ["p:u1", "p:old"], []]
    assert sorted(lane_groups(keys)) == [[0, 1, 3, 4], [2], [5]]


def test_the_barrier_holds_what_shares_a_key_with_a_held_event_transitively() -> None:
    barrier: LaneBarrier[str] = LaneBarrier()
    barrier.block(["p:a"], "m1")
    assert barrier.admit(["p:b"]) is None  # nothing in common: goes
    assert barrier.admit(["p:c", "p:a"]) == "m1"  # shares p:a: held, and holds p:c now
    assert barrier.admit(["p:c"]) == "m1"  # behind the held one, so behind m1 too
    assert barrier.holder(["p:b"]) is None


def test_lane_keys_name_both_sides_of_a_merge_the_anonymous_id_and_emails_in_lower_case() -> None:
    config = CustomerIoConfig(site_id="s", tracking_api_key="k", api_key="a", region="us")
    alias = map_event({"type": "alias", "userId": "u1", "previousId": "old"}, config)
    identify = map_event(
        {"type": "identify", "traits": {"email": "Ann@Example.com"}, "anonymousId": "an-1"},
        config,
    )
    assert isinstance(alias, Mapped) and isinstance(identify, Mapped)
    assert set(lane_keys(alias)) == {"p:u1", "p:old"}
    assert set(lane_keys(identify)) == {"p:ann@example.com", "a:an-1"}


# -- deliver(): requests of a lane never overlap, and nothing follows a failure -------------


def config(api: str) -> dict[str, Any]:
    if api == "pipelines":
        return {
            "api": "pipelines",
            "cdp_api_key": f"lanes-{next(_sites)}",
            "region": "us",
            "max_requests_per_second": 10_000,
        }
    return {
        "site_id": f"lanes-{next(_sites)}",
        "tracking_api_key": "track-key",
        "api_key": "app-key",
        "region": "us",
        "api": api,
        "max_requests_per_second": 10_000,
    }


def _ids(identifiers: dict[str, Any]) -> list[str]:
    return [str(v) for k, v in identifiers.items() if k in ("id", "email", "anonymous_id")]


def request_people(request: httpx.Request) -> list[str]:
    """Every person or anonymous id a request names (path, items, merge bodies)."""
    names: list[str] = []
    parts = request.url.raw_path.decode().split("?")[0].split("/")
    if len(parts) > 4 and parts[3] == "customers":
        names.append(unquote(parts[4]))
    body = json.loads(request.content) if request.content else {}
    for item in body.get("batch", [body]):
        for key in ("userId", "anonymousId", "previousId"):  # Data Pipelines calls
            if item.get(key):
                names.append(str(item[key]))
        for key in ("identifiers", "primary", "secondary"):
            if isinstance(item.get(key), dict):
                names += _ids(item[key])
        if item.get("anonymous_id"):
            names.append(str(item["anonymous_id"]))
    return names


PEOPLE = [f"u{n}" for n in range(4)]
big = "x" * 40_000  # an identify over 32 KB: v2 sends it by its v1 request


@st.composite
def event_lists(draw: st.DrawFn) -> list[dict[str, Any]]:
    events = []
    for n in range(draw(st.integers(1, 24))):
        user = draw(st.sampled_from(PEOPLE))
        kind = draw(st.sampled_from(["identify", "big", "track", "alias", "delete", "anon"]))
        base: dict[str, Any] = {"messageId": f"m{n}", "timestamp": TIMESTAMP, "userId": user}
        if kind == "identify":
            events.append({**base, "type": "identify", "traits": {"n": n}})
        elif kind == "big":
            events.append({**base, "type": "identify", "traits": {"blob": big}})
        elif kind == "track":
            events.append({**base, "type": "track", "event": "Used", "properties": {"n": n}})
        elif kind == "alias":
            other = draw(st.sampled_from(PEOPLE))
            events.append({**base, "type": "alias", "previousId": f"old-{other}"})
        elif kind == "delete":
            events.append({**base, "type": "track", "event": "User Deleted"})
        else:
            events.append({**base, "type": "identify", "anonymousId": f"anon-{user}"})
    return events


answers = st.lists(st.sampled_from(["ok", "ok", "ok", "429", "503", "timeout", "drop", "400"]))


class LaneWatch:
    """A fake Customer.io that fails on a plan and records lane violations."""

    def __init__(self, lane_of: dict[str, int], plan: list[str]) -> None:
        self.lane_of = lane_of
        self.plan = plan or ["ok"]
        self.in_flight: dict[int, int] = {}
        self.failed_lanes: set[int] = set()
        self.violations: list[str] = []
        self.count = 0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        lanes = {self.lane_of[p] for p in request_people(request) if p in self.lane_of}
        for lane in lanes:
            if self.in_flight.get(lane):
                self.violations.append(f"lane {lane}: two requests in flight")
            if lane in self.failed_lanes:
                self.violations.append(f"lane {lane}: sent after a failure")
            self.in_flight[lane] = self.in_flight.get(lane, 0) + 1
        answer = self.plan[self.count % len(self.plan)]
        self.count += 1
        try:
            await asyncio.sleep(0.001 * (self.count % 3))  # let others interleave
        finally:
            for lane in lanes:
                self.in_flight[lane] -= 1
        if answer in ("429", "503", "timeout", "drop"):
            self.failed_lanes |= lanes
        if answer == "timeout":
            raise httpx.ReadTimeout("late", request=request)
        if answer == "drop":
            raise httpx.RemoteProtocolError("dropped", request=request)
        if answer == "400":
            return httpx.Response(400, json={"meta": {"error": "bad"}})
        status = int(answer) if answer.isdigit() else 200
        return httpx.Response(status, json={})


def lanes_by_person(events: Iterable[dict[str, Any]], cfg: dict[str, Any]) -> dict[str, int]:
    parsed = CustomerIoConfig.model_validate(cfg)
    mapped = [m for e in events if isinstance(m := map_event(e, parsed), Mapped)]
    keys = [lane_keys(m) for m in mapped]
    lane_of: dict[str, int] = {}
    for number, lane in enumerate(lane_groups(keys)):
        for index in lane:
            for key in keys[index]:
                lane_of[key[2:]] = number
    return lane_of


@pytest.mark.parametrize("api", ["v1", "v2", "pipelines"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=event_lists(), plan=answers)
def test_no_request_of_a_lane_is_sent_while_an_earlier_one_is_unsettled(
    api: str, events: list[dict[str, Any]], plan: list[str]
) -> None:
    cfg = config(api)
    watch = LaneWatch(lanes_by_person(events, cfg), plan)

    async def run() -> list[Any]:
        transport = httpx.MockTransport(watch.handle)
        async with CustomerIoDestination(cfg, transport=transport) as destination:
            return await destination.deliver(events)

    outcomes = asyncio.run(run())
    assert watch.violations == []
    assert len(outcomes) == len(events)
    # Whatever follows a held or failed event in its lane was not delivered either.
    lane_of = watch.lane_of
    stopped: set[int] = set()
    for event, outcome in zip(events, outcomes, strict=True):
        lane = lane_of.get(str(event["userId"]))
        refused_unsent = outcome.kind == "rejected" and outcome.status is None
        if lane in stopped and not refused_unsent:  # (never sent: order cannot matter)
            assert outcome.kind in ("retry", "config_error"), (event, outcome)
        if outcome.kind == "retry":
            stopped.add(lane)  # type: ignore[arg-type]
        if outcome.code == "held":
            assert outcome.message.startswith("held behind m")


# -- overlapping deliver() calls: the later one waits for, or is held behind, the earlier ---

CALL: contextvars.ContextVar[int] = contextvars.ContextVar("call", default=0)


class CallWatch(LaneWatch):
    """LaneWatch's failures, and a log of each request: which call sent it (the context
    its task was made in), whom it names, when it went out and when it was answered."""

    def __init__(self, plan: list[str]) -> None:
        super().__init__({}, plan)
        self.clock = itertools.count()
        self.log: list[tuple[int, set[str], int, int]] = []

    async def handle(self, request: httpx.Request) -> httpx.Response:
        sent = next(self.clock)
        try:
            return await super().handle(request)
        finally:
            self.log.append((CALL.get(), set(request_people(request)), sent, next(self.clock)))


def _people(events: list[dict[str, Any]], cfg: dict[str, Any]) -> dict[str, int]:
    return lanes_by_person(events, cfg)


@pytest.mark.parametrize("api", ["v1", "v2"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=event_lists(), plan=answers, cut=st.integers(0, 24))
def test_a_later_overlapping_call_never_overtakes_nor_follows_a_failure_of_the_earlier(
    api: str, events: list[dict[str, Any]], plan: list[str], cut: int
) -> None:
    first, second = events[:cut], events[cut:]
    cfg = config(api)
    watch = CallWatch(plan)

    async def run() -> tuple[list[Any], list[Any]]:
        transport = httpx.MockTransport(watch.handle)
        async with CustomerIoDestination(cfg, transport=transport) as destination:

            async def call(number: int, batch: list[dict[str, Any]]) -> list[Any]:
                CALL.set(number)
                return await destination.deliver(batch)

            one = asyncio.ensure_future(call(1, first))
            await asyncio.sleep(0)  # the first call maps and sends before the second starts
            two = asyncio.ensure_future(call(2, second))
            return await one, await two

    outcomes_one, outcomes_two = asyncio.run(run())
    assert len(outcomes_one) == len(first) and len(outcomes_two) == len(second)
    lanes_one, lanes_two = _people(first, cfg), _people(second, cfg)
    # Who the first call's unsettled lanes touch: the second call's lanes with any of them
    # are held whole.
    stopped_one = {
        lanes_one[str(event["userId"])]
        for event, outcome in zip(first, outcomes_one, strict=True)
        if outcome.kind in ("retry", "config_error")
    }
    unsettled = {person for person, lane in lanes_one.items() if lane in stopped_one}
    held_two = {lanes_two[p] for p in unsettled if p in lanes_two}
    last_answer_one = max((answered for c, _, _, answered in watch.log if c == 1), default=-1)
    for number, people, sent, _ in watch.log:
        if number != 2 or not people & set(lanes_one):
            continue
        assert sent > last_answer_one, f"call 2 sent to {people} before call 1 was over"
        assert not {lanes_two.get(p) for p in people} & held_two, f"{people} after a failure"
    for event, outcome in zip(second, outcomes_two, strict=True):
        refused_unsent = outcome.kind == "rejected" and outcome.status is None
        if lanes_two.get(str(event["userId"])) in held_two and not refused_unsent:
            assert outcome.kind in ("retry", "config_error"), (event, outcome)
