"""The destination against the emulator, in-process: the wiring, v1 and v2, check(), faults."""

from __future__ import annotations

import json
from typing import Any

import httpx
from emulator_support import EU, US, app_for, emulator_destination, new_state, person
from openapi import validate_request

from signal_dest_cio import CustomerIoDestination
from signal_dest_cio.emulator import EmulatorState, Fault, Workspace

WHEN = "2026-03-02T09:15:04Z"


def destination(
    state: EmulatorState, api: str = "v2", workspace: Workspace = US, region: str = "us"
) -> CustomerIoDestination:
    return emulator_destination(state, api, workspace, region)


def journey() -> list[dict[str, Any]]:
    """An anonymous visit, signup, activity, a legacy profile aliased away, a group."""
    return [
        {"type": "page", "messageId": "m1", "anonymousId": "anon-1", "timestamp": WHEN,
         "name": "Pricing", "context": {"page": {"url": "https://example.com/pricing"}}},
        {"type": "identify", "messageId": "m2", "userId": "u1", "anonymousId": "anon-1",
         "timestamp": WHEN, "traits": {"email": "ada@example.com", "plan": "trial"}},
        {"type": "track", "messageId": "m3", "userId": "u1", "event": "user.signup",
         "timestamp": WHEN, "properties": {"plan": "trial"}},
        {"type": "screen", "messageId": "m4", "userId": "u1", "name": "Home", "timestamp": WHEN},
        {"type": "identify", "messageId": "m5", "userId": "legacy-1", "timestamp": WHEN,
         "traits": {"newsletter": True}},
        {"type": "alias", "messageId": "m6", "userId": "u1", "previousId": "legacy-1",
         "timestamp": WHEN},
        {"type": "group", "messageId": "m7", "userId": "u1", "groupId": "acme",
         "timestamp": WHEN, "traits": {"name": "Acme"}},
    ]  # fmt: skip


async def deliver(state: EmulatorState, events: list[Any], **options: Any) -> list[Any]:
    async with destination(state, **options) as dest:
        return await dest.deliver(events)


def assert_journey_landed(state: EmulatorState) -> None:
    u1 = person(state, "u1")
    assert u1["identifiers"]["email"] == "ada@example.com"
    assert u1["attributes"]["plan"] == "trial" and u1["attributes"]["newsletter"] is True
    assert [(e["type"], e["name"]) for e in u1["activity"]] == [
        ("page", "https://example.com/pricing"),
        ("event", "user.signup"),
        ("screen", "Home"),
    ]
    assert all(e["id"] for e in u1["activity"])  # every activity carries its dedup ULID
    assert state.person_view(US.site_id, "legacy-1") is None
    assert state.anonymous_view(US.site_id) == []
    [acme] = state.objects_view(US.site_id)
    assert acme["object_id"] == "acme" and acme["relationships"][0]["identifiers"]["id"] == "u1"


async def test_v2_journey_is_delivered_and_lands_in_the_workspace() -> None:
    state = new_state()
    outcomes = await deliver(state, journey(), api="v2")
    assert [o.kind for o in outcomes] == ["delivered"] * 7, outcomes
    assert_journey_landed(state)
    assert {r["path"] for r in state.request_log()} == {"/api/v2/batch"}


async def test_v1_journey_is_delivered_one_request_per_operation() -> None:
    state = new_state()
    outcomes = []
    async with destination(state, api="v1") as dest:
        for event in journey():  # one at a time: an alias must follow its identifies
            outcomes += await dest.deliver([event])
    assert [o.kind for o in outcomes] == ["delivered"] * 7, outcomes
    assert_journey_landed(state)
    paths = [r["path"] for r in state.request_log()]
    assert "/api/v1/merge_customers" in paths and "/api/v1/customers/u1/events" in paths


async def test_replaying_the_same_events_stores_their_activity_once() -> None:
    state = new_state()
    await deliver(state, journey()[1:4])
    await deliver(state, journey()[1:4], api="v1")
    assert len(person(state, "u1")["activity"]) == 2
    assert state.workspace_view(US.site_id)["duplicate_events_ignored"] == 2


async def test_v1_devices_reach_the_person() -> None:
    state = new_state()
    install = {
        "type": "track", "messageId": "d1", "userId": "u1", "event": "Application Installed",
        "timestamp": WHEN, "context": {"device": {"token": "apns-1", "type": "ios"}},
    }  # fmt: skip
    uninstall = install | {"messageId": "d2", "event": "Application Uninstalled"}
    [installed] = await deliver(state, [install], api="v1")
    assert installed.kind == "delivered"
    assert [d["token"] for d in person(state, "u1")["devices"]] == ["apns-1"]
    await deliver(state, [uninstall], api="v1")
    assert person(state, "u1")["devices"] == []


async def test_check_passes_against_the_emulator() -> None:
    async with destination(new_state()) as dest:
        report = await dest.check()
    assert report.ok and report.region == "us", report


async def test_check_names_the_real_region_of_an_eu_workspace_configured_as_us() -> None:
    async with destination(new_state(), workspace=EU, region="us") as dest:
        report = await dest.check()
    assert not report.ok and report.region == "eu"
    assert "set region to 'eu'" in next(c.message for c in report.checks if c.name == "region")


async def test_an_eu_workspace_delivering_to_the_us_host_is_a_region_mismatch() -> None:
    state = new_state()
    [outcome] = await deliver(state, journey()[2:3], workspace=EU, region="us")
    assert (outcome.kind, outcome.code, outcome.status) == ("config_error", "region_mismatch", 307)
    assert state.people_view(EU.site_id) == []


async def test_a_bad_key_is_invalid_credentials() -> None:
    wrong = Workspace(US.site_id, "wrong", US.app_api_key, "us")
    [outcome] = await deliver(new_state(), journey()[2:3], workspace=wrong)
    assert (outcome.kind, outcome.code) == ("config_error", "invalid_credentials")


async def test_rate_limit_and_dropped_connections_are_retries() -> None:
    state = new_state()
    state.faults.add(Fault(kind="status", status=429, retry_after="2"))
    [limited] = await deliver(state, journey()[2:3])
    assert (limited.kind, limited.code, limited.retry_after) == ("retry", "rate_limited", 2.0)
    state.faults.add(Fault(kind="drop"))
    [dropped] = await deliver(state, journey()[2:3])
    assert (dropped.kind, dropped.code) == ("retry", "connection_error")
    state.faults.add(Fault(kind="slow", seconds=5))
    [slow] = await deliver(state, journey()[2:3])
    assert (slow.kind, slow.code) == ("retry", "timeout")
    [ok] = await deliver(state, journey()[2:3])
    assert ok.kind == "delivered"
    assert len(person(state, "u1")["activity"]) == 1  # the slow one landed; replays deduped


async def test_what_the_emulator_accepts_from_the_destination_validates_against_openapi() -> None:
    seen: list[httpx.Request] = []
    app = app_for(new_state(), "us")

    class Recording(httpx.ASGITransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return await super().handle_async_request(request)

    config = destination(new_state()).config.model_copy(update={"api": "v1"})
    async with CustomerIoDestination(config, transport=Recording(app=app)) as dest:
        for event in journey():
            assert (await dest.deliver([event]))[0].kind == "delivered"
    for request in seen:
        body = json.loads(request.content) if request.content else None
        validate_request(request.method, request.url.raw_path.decode().split("?")[0], body)
