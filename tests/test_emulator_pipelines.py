"""The emulator's Data Pipelines API (SPEC 8): the destination in pipelines mode against it,
in process; strict mode, limits, auth, and the same workspace state as Track calls."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from emulator_support import EU, US, US_BASE, app_for, new_state

from signal_dest_cio import CustomerIoDestination
from signal_dest_cio.emulator import EmulatorState

WHEN = "2026-03-02T09:15:04Z"
CDP_BASE = US_BASE + "/v1"


def destination(state: EmulatorState, key: str | None = None, **options: Any) -> Any:
    transport = httpx.ASGITransport(app=app_for(state, "us"))
    config = {
        "api": "pipelines",
        "cdp_api_key": key or US.cdp_api_key,
        "region": "us",
        "pipelines_api_base_url": CDP_BASE,
        "max_requests_per_second": 10_000,
        **options,
    }
    return CustomerIoDestination(config, transport=transport)


def journey() -> list[dict[str, Any]]:
    return [
        {
            "type": "page",
            "messageId": "p1",
            "anonymousId": "anon-1",
            "name": "Pricing",
            "timestamp": WHEN,
            "properties": {"url": "https://example.com/pricing"},
        },
        {
            "type": "identify",
            "messageId": "p2",
            "userId": "u1",
            "anonymousId": "anon-1",
            "timestamp": WHEN,
            "traits": {"email": "ada@example.com", "plan": "trial"},
        },
        {
            "type": "track",
            "messageId": "p3",
            "userId": "u1",
            "event": "user.signup",
            "timestamp": WHEN,
            "properties": {"plan": "trial"},
        },
        {
            "type": "identify",
            "messageId": "p4",
            "userId": "legacy-1",
            "timestamp": WHEN,
            "traits": {"newsletter": True},
        },
        {"type": "alias", "messageId": "p5", "userId": "u1", "previousId": "legacy-1"},
        {
            "type": "group",
            "messageId": "p6",
            "userId": "u1",
            "groupId": "acme",
            "traits": {"name": "Acme"},
        },
        {"type": "track", "messageId": "p7", "userId": "gone", "event": "feature.used"},
        {"type": "track", "messageId": "p8", "userId": "gone", "event": "User Deleted"},
    ]


async def test_a_journey_in_pipelines_mode_lands_in_the_workspace() -> None:
    state = new_state()
    async with destination(state) as dest:
        outcomes = await dest.deliver(journey())
    assert [o.kind for o in outcomes] == ["delivered"] * len(journey())
    site = US.site_id
    u1 = state.person_view(site, "u1")
    assert u1 is not None
    assert u1["attributes"]["plan"] == "trial" and u1["attributes"]["newsletter"] is True
    names = [a["name"] for a in u1["activity"]]
    assert "user.signup" in names and any("pricing" in n.lower() for n in names)
    assert state.person_view(site, "legacy-1") is None  # merged away
    assert state.person_view(site, "gone") is None  # deleted
    assert [o["object_id"] for o in state.objects_view(site)] == ["acme"]
    log = state.request_log()
    assert {r["path"] for r in log} == {"/v1/batch", "/v1/alias"}
    assert {r["workspace"] for r in log} == {site}


async def test_the_same_message_twice_is_stored_once() -> None:
    state = new_state()
    async with destination(state) as dest:
        await dest.deliver(journey()[2:3])
        await dest.deliver(journey()[2:3])
    assert [a["name"] for a in state.person_view(US.site_id, "u1")["activity"]] == ["user.signup"]


async def test_a_wrong_key_or_another_region_s_key_is_a_401_config_error() -> None:
    state = new_state()
    for key in ("wrong-key", EU.cdp_api_key):
        async with destination(state, key=key) as dest:
            [outcome] = await dest.deliver(journey()[2:3])
        assert (outcome.kind, outcome.code) == ("config_error", "invalid_credentials")


async def call(path: str, body: Any, *, strict: bool, key: str | None = None) -> httpx.Response:
    state = new_state()
    headers = {"X-Strict-Mode": "1"} if strict else {}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app_for(state, "us")),
        base_url=US_BASE,
        auth=(key or str(US.cdp_api_key), ""),
    ) as client:
        response = await client.post(path, json=body, headers=headers)
    response.extensions["state"] = state
    return response


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/track", {"userId": "u1"}),
        ("/v1/identify", {"traits": {"a": 1}}),
        ("/v1/alias", {"userId": "u1"}),
        ("/v1/batch", {"batch": [{"type": "alias", "userId": "a", "previousId": "b"}]}),
        ("/v1/batch", {"batch": "no"}),
        ("/v1/track", {"userId": "u1", "event": "x", "properties": {"blob": "x" * 40_000}}),
    ],
)
async def test_strict_mode_refuses_a_bad_call_with_customer_io_s_error_shape(
    path: str, body: Any
) -> None:
    response = await call(path, body, strict=True)
    assert response.status_code == 400
    assert isinstance(response.json()["meta"]["errors"], list) and response.json()["meta"]["errors"]
    assert response.extensions["state"].people_view(US.site_id) == []


async def test_without_strict_mode_a_bad_call_is_a_silent_200_and_nothing_happens() -> None:
    response = await call("/v1/track", {"userId": "u1"}, strict=False)
    assert response.status_code == 200
    state = response.extensions["state"]
    assert state.people_view(US.site_id) == []
    [record] = state.request_log()
    assert any("dropped" in note for note in record["notes"])
