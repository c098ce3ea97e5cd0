"""Emulator: faults on demand (in-process and under uvicorn), the inspection API, reset."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from emulator_support import EU, US, US_BASE, Clock, app_for, new_state, person, track_client

from signal_dest_cio.emulator import EmulatorState, Workspace, serve_in_thread
from signal_dest_cio.emulator.middleware import ConnectionDropped


async def add_fault(client: httpx.AsyncClient, **fault: Any) -> None:
    response = await client.post("/_emulator/faults", json=fault)
    assert response.status_code == 201, response.text


async def test_status_fault_answers_429_with_retry_after_then_back_to_normal() -> None:
    state = new_state()
    async with track_client(state) as client:
        await add_fault(client, kind="status", status=429, count=2, retry_after="2")
        statuses = []
        for _ in range(3):
            response = await client.put("/api/v1/customers/u1", json={"a": 1})
            statuses.append((response.status_code, response.headers.get("retry-after")))
        assert statuses == [(429, "2"), (429, "2"), (200, None)]
        assert response.json() == {}
    faulted = [r["fault"] for r in state.request_log()]
    assert faulted == ["status", "status", None]


@pytest.mark.parametrize("status", [500, 503])
async def test_server_error_faults_count_down_and_change_nothing(status: int) -> None:
    state = new_state()
    async with track_client(state) as client:
        await add_fault(client, kind="status", status=status, count=1)
        first = await client.post("/api/v2/batch", json={"batch": [{"x": 1}]})
        assert first.status_code == status and "retry-after" not in first.headers
        assert first.json() == {"meta": {"error": f"emulated fault: {status}"}}
        assert state.people_view(US.site_id) == []
        response = await client.put("/api/v1/customers/u1", json={})
        assert response.status_code == 200


async def test_faults_can_target_a_region_or_a_path_prefix() -> None:
    state = new_state()
    async with track_client(state) as us, track_client(state, "eu", EU) as eu:
        await add_fault(us, kind="status", status=503, region="eu")
        await add_fault(us, kind="status", status=500, path_prefix="/api/v2/")
        assert (await us.put("/api/v1/customers/u1", json={})).status_code == 200
        assert (await us.post("/api/v2/entity", json={})).status_code == 500
        assert (await eu.put("/api/v1/customers/u1", json={})).status_code == 503
        assert (await us.get("/_emulator/faults")).json() == {"faults": []}


async def test_an_invalid_fault_is_422() -> None:
    async with track_client(new_state()) as client:
        for fault in (
            {"kind": "status"},
            {"kind": "melt"},
            {"kind": "slow"},
            {"kind": "drop", "count": 0},
        ):
            assert (await client.post("/_emulator/faults", json=fault)).status_code == 422


async def test_in_process_drop_raises_a_transport_error_and_applies_nothing() -> None:
    state = new_state()
    async with track_client(state) as client:
        await add_fault(client, kind="drop")
        with pytest.raises(httpx.RemoteProtocolError) as raised:
            await client.put("/api/v1/customers/u1", json={"a": 1})
        assert isinstance(raised.value, ConnectionDropped)
        assert state.people_view(US.site_id) == []
        assert (await client.put("/api/v1/customers/u1", json={})).status_code == 200


async def test_in_process_slow_applies_the_request_and_raises_read_timeout() -> None:
    state = new_state()
    async with track_client(state) as client:
        await add_fault(client, kind="slow", seconds=30)
        with pytest.raises(httpx.ReadTimeout):
            await client.put("/api/v1/customers/u1", json={"a": 1})
    assert state.person_view(US.site_id, "u1") is not None  # applied, answer lost


# -- aiming at one request -------------------------------------------------------------


async def test_a_method_fault_hits_only_that_method_and_is_shown_upper_case() -> None:
    state = new_state()
    async with track_client(state) as client:
        await add_fault(client, kind="status", status=503, method="put")
        [pending] = (await client.get("/_emulator/faults")).json()["faults"]
        assert pending["method"] == "PUT"
        assert (await client.post("/api/v1/customers/u1/events", json={"name": "e"})).is_success
        assert (await client.put("/api/v1/customers/u1", json={})).status_code == 503


async def test_a_path_fault_matches_the_exact_percent_encoded_path_only() -> None:
    state = new_state()
    async with track_client(state) as client:
        await add_fault(client, kind="status", status=500, path="/api/v1/customers/a%2Fb")
        assert (await client.put("/api/v1/customers/a%2Fbc", json={})).status_code == 200
        assert (await client.put("/api/v1/customers/a%2Fb/devices", json={})).status_code != 500
        assert (await client.put("/api/v1/customers/a%2Fb", json={})).status_code == 500
        assert (await client.put("/api/v1/customers/a%2Fb", json={})).status_code == 200


async def test_a_path_fault_reaches_beyond_the_default_track_prefix() -> None:
    state = new_state()
    async with track_client(state) as client:
        await add_fault(client, kind="status", status=503, path="/v1/workspaces")
        response = await client.get("/v1/workspaces", headers={"Authorization": "Bearer x"})
    assert response.status_code == 503


async def test_a_workspace_fault_hits_only_requests_naming_that_site_id() -> None:
    other = Workspace("other-site", "other-track", "other-app", "us")
    state = EmulatorState([US, EU, other], clock=Clock())
    async with (
        track_client(state) as us,
        track_client(state, workspace=other) as them,
        track_client(state, workspace=None) as anonymous,
    ):
        await add_fault(us, kind="status", status=429, workspace="other-site", count=5)
        assert (await us.put("/api/v1/customers/u1", json={})).status_code == 200
        assert (await anonymous.put("/api/v1/customers/u1", json={})).status_code == 401
        assert (await them.put("/api/v1/customers/u1", json={})).status_code == 429
    assert state.person_view("other-site", "u1") is None
    log = state.request_log()
    assert [(r["status"], r["fault"]) for r in log] == [(200, None), (401, None), (429, "status")]
    assert "other-track" not in repr(log) + repr(state.faults.pending())


async def test_method_path_and_workspace_must_all_hold() -> None:
    state = new_state()
    target = "/api/v1/customers/new-user"
    async with track_client(state) as us, track_client(state, workspace=EU) as eu_at_us:
        await add_fault(
            us, kind="status", status=500, method="PUT", path=target, workspace=US.site_id
        )
        assert (await us.delete(target)).status_code == 200  # other method
        assert (await eu_at_us.put(target, json={})).status_code == 307  # other workspace
        assert (await us.put(target + "2", json={})).status_code == 200  # other path
        assert (await us.put(target, json={})).status_code == 500


def v2_identify(user: str, **attributes: Any) -> dict[str, Any]:
    return {
        "type": "person",
        "identifiers": {"id": user},
        "action": "identify",
        "attributes": attributes,
    }


async def test_a_body_fault_fails_only_the_batch_carrying_that_text() -> None:
    state = new_state()
    # (a body read and not replayed would leave the app waiting: fail, do not hang)
    async with asyncio.timeout(10), track_client(state) as client:
        await add_fault(client, kind="status", status=503, body_contains='"person-b"')
        first = {"batch": [v2_identify("person-a", plan="a")]}
        second = {"batch": [v2_identify("person-c"), v2_identify("person-b", plan="b")]}
        assert (await client.post("/api/v2/batch", json=first)).status_code == 200
        assert (await client.post("/api/v2/batch", json=second)).status_code == 503
        assert (await client.post("/api/v2/batch", json=second)).status_code == 200
    # the body read to decide reached the app whole: the batches were applied
    assert person(state, "person-a")["attributes"] == {"plan": "a"}
    assert person(state, "person-b")["attributes"] == {"plan": "b"}


async def test_a_slow_body_fault_still_applies_the_replayed_body() -> None:
    state = new_state()
    async with asyncio.timeout(10), track_client(state) as client:
        await add_fault(client, kind="slow", seconds=5, body_contains='"pro"')
        assert (await client.put("/api/v1/customers/u1", json={"plan": "team"})).is_success
        with pytest.raises(httpx.ReadTimeout):
            await client.put("/api/v1/customers/u1", json={"plan": "pro"})
    assert person(state, "u1")["attributes"] == {"plan": "pro"}


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "drop", "method": "P UT"},
        {"kind": "drop", "path": "api/v1/customers/u1"},
        {"kind": "drop", "path": "/api/v1/customers/u1?x=1"},
        {"kind": "drop", "path": "/v1/workspaces", "path_prefix": "/api/"},
        {"kind": "drop", "body_contains": ""},
        {"kind": "drop", "workspace": ""},
        {"kind": "drop", "paths": "/api/"},
    ],
)
async def test_an_impossible_target_is_a_clear_422(fault: dict[str, Any]) -> None:
    async with track_client(new_state()) as client:
        response = await client.post("/_emulator/faults", json=fault)
        assert response.status_code == 422
        assert response.json()["error"] == "invalid fault" and response.json()["details"]
        assert (await client.get("/_emulator/faults")).json() == {"faults": []}


# -- inspection ------------------------------------------------------------------------


async def test_inspection_lists_people_one_person_anonymous_objects_and_workspaces() -> None:
    state = new_state()
    async with track_client(state) as client:
        await client.put("/api/v1/customers/a%2Fb", json={"plan": "pro"})
        await client.post("/api/v1/events", json={"name": "anon", "anonymous_id": "x"})
        group = {
            "type": "object",
            "identifiers": {"object_type_id": "1", "object_id": "acme"},
            "action": "identify",
            "attributes": {},
        }
        await client.post("/api/v2/entity", json=group)
        site = f"/_emulator/workspaces/{US.site_id}"
        people = (await client.get(f"{site}/people")).json()["people"]
        one = (await client.get(f"{site}/people/a%2Fb")).json()
        anonymous = (await client.get(f"{site}/anonymous")).json()["events"]
        objects = (await client.get(f"{site}/objects")).json()["objects"]
        summary = (await client.get(f"{site}")).json()
        listed = (await client.get("/_emulator/workspaces")).json()["workspaces"]
        assert (await client.get(f"{site}/people/nobody")).status_code == 404
        assert (await client.get("/_emulator/workspaces/nope/people")).status_code == 404
    assert [p["identifiers"]["id"] for p in people] == ["a/b"]
    assert one["attributes"] == {"plan": "pro"} and one["suppressed"] is False
    assert set(one) >= {"identifiers", "attributes", "devices", "activity", "suppressed"}
    assert [e["name"] for e in anonymous] == ["anon"]
    assert [o["object_id"] for o in objects] == ["acme"]
    assert summary["people"] == 1 and summary["region"] == "us"
    assert [w["site_id"] for w in listed] == [US.site_id, EU.site_id]
    assert US.track_api_key not in repr(listed) and US.app_api_key not in repr(listed)


async def test_request_log_over_http_and_inspection_calls_are_not_logged() -> None:
    state = new_state()
    async with track_client(state) as client:
        await client.put("/api/v1/customers/u1", json={})
        log = (await client.get("/_emulator/requests")).json()["requests"]
    assert [(r["method"], r["path"], r["status"]) for r in log] == [
        ("PUT", "/api/v1/customers/u1", 200)
    ]


async def test_reset_clears_people_log_and_faults_but_keeps_workspaces() -> None:
    state = new_state()
    async with track_client(state) as client:
        await client.put("/api/v1/customers/u1", json={})
        event = {"name": "e", "id": "0" * 26}
        await client.post("/api/v1/customers/u1/events", json=event)
        await add_fault(client, kind="status", status=500, count=5)
        assert (await client.post("/_emulator/reset")).json() == {"reset": True}
        assert state.people_view(US.site_id) == [] and state.request_log() == []
        # workspaces still authenticate, the fault is gone, event ids are forgotten
        response = await client.post(
            "/api/v1/customers/u1/events", json={"name": "e", "id": "0" * 26}
        )
        assert response.status_code == 200
    assert len(person(state, "u1")["activity"]) == 1


async def test_inspection_answers_loopback_callers_only() -> None:
    transport = httpx.ASGITransport(app=app_for(new_state()), client=("203.0.113.9", 5000))
    async with httpx.AsyncClient(transport=transport, base_url=US_BASE) as client:
        assert (await client.get("/_emulator/requests")).status_code == 403


# -- under uvicorn -------------------------------------------------------------------


def auth() -> tuple[str, str]:
    return (US.site_id, US.track_api_key)


def test_drop_under_uvicorn_closes_the_connection_without_a_response() -> None:
    state = new_state()
    with serve_in_thread(state) as urls, httpx.Client(base_url=urls.us, auth=auth()) as client:
        httpx.post(f"{urls.us}/_emulator/faults", json={"kind": "drop"}).raise_for_status()
        with pytest.raises(httpx.RemoteProtocolError):
            client.put("/api/v1/customers/u1", json={"a": 1})
        assert state.people_view(US.site_id) == []
        assert client.put("/api/v1/customers/u1", json={"a": 1}).status_code == 200
    dropped = [r for r in state.request_log() if r["fault"] == "drop"]
    assert dropped and dropped[0]["status"] is None


def test_a_body_fault_under_uvicorn_reads_a_many_chunk_body_and_replays_it() -> None:
    state = new_state()
    padding = "x" * 900  # 200 items of it: a body that arrives in several messages
    with serve_in_thread(state) as urls, httpx.Client(base_url=urls.us, auth=auth()) as client:
        fault = {"kind": "drop", "body_contains": "target-user"}
        httpx.post(f"{urls.us}/_emulator/faults", json=fault).raise_for_status()
        batch = [v2_identify("other-user", note=padding) for _ in range(200)]
        assert client.post("/api/v2/batch", json={"batch": batch}).status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            client.post("/api/v2/batch", json={"batch": [*batch, v2_identify("target-user")]})
        assert state.person_view(US.site_id, "target-user") is None
    assert person(state, "other-user")["attributes"] == {"note": padding}


def test_slow_under_uvicorn_is_a_read_timeout_for_a_shorter_client_timeout() -> None:
    state = new_state()
    with serve_in_thread(state) as urls:
        slow = {"kind": "slow", "seconds": 0.5}
        httpx.post(f"{urls.us}/_emulator/faults", json=slow).raise_for_status()
        with httpx.Client(base_url=urls.us, auth=auth(), timeout=0.1) as client:
            with pytest.raises(httpx.ReadTimeout):
                client.put("/api/v1/customers/u1", json={"a": 1})
            assert client.get("/api/v1/accounts/region").status_code == 200


def test_serve_in_thread_redirects_eu_workspaces_to_the_real_eu_url() -> None:
    state: EmulatorState = new_state()
    with serve_in_thread(state) as urls:
        assert urls.us != urls.eu and urls.us.startswith("http://127.0.0.1:")
        response = httpx.put(
            f"{urls.us}/api/v1/customers/u1", json={}, auth=(EU.site_id, EU.track_api_key)
        )
        assert response.status_code == 307
        assert response.headers["location"] == f"{urls.eu}/api/v1/customers/u1"


def test_serve_in_thread_listens_on_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"), serve_in_thread(new_state(), host="0.0.0.0"):
        pass
