"""Emulator: HTTP Basic on the Track API, regions and redirects, the App API key check."""

from __future__ import annotations

import httpx
import pytest
from emulator_support import EU, EU_BASE, US, new_state, track_client

from signal_dest_cio.emulator import Workspace


async def test_bad_track_key_is_401_and_changes_nothing() -> None:
    state = new_state()
    wrong = Workspace(US.site_id, "not-the-key", US.app_api_key, "us")
    async with track_client(state, workspace=wrong) as client:
        response = await client.put("/api/v1/customers/u1", json={"plan": "pro"})
    assert response.status_code == 401
    assert response.json() == {"meta": {"error": "Unauthorized request"}}
    assert state.people_view(US.site_id) == []


@pytest.mark.parametrize("header", [None, "Bearer abc", "Basic !!!", "Basic ZGVtby1zaXRl"])
async def test_missing_or_malformed_basic_auth_is_401(header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    async with track_client(new_state(), workspace=None) as client:
        response = await client.get("/api/v1/accounts/region", headers=headers)
    assert response.status_code == 401


async def test_us_workspace_on_the_eu_host_is_401() -> None:
    async with track_client(new_state(), region="eu", workspace=US) as client:
        response = await client.post("/api/v1/customers/u1/events", json={"name": "x"})
    assert response.status_code == 401


async def test_eu_workspace_on_the_us_host_is_redirected_to_the_same_path_on_eu() -> None:
    state = new_state()
    async with track_client(state, region="us", workspace=EU) as client:
        response = await client.put("/api/v1/customers/a%2Fb?x=1", json={"plan": "pro"})
    assert response.status_code == 307
    assert response.headers["location"] == f"{EU_BASE}/api/v1/customers/a%2Fb?x=1"
    assert state.people_view(EU.site_id) == []  # nothing applied on the wrong host


async def test_eu_workspace_on_its_own_host_is_served() -> None:
    state = new_state()
    async with track_client(state, region="eu", workspace=EU) as client:
        response = await client.put("/api/v1/customers/u1", json={"plan": "pro"})
    assert response.status_code == 200
    assert state.person_view(EU.site_id, "u1") is not None
    assert state.person_view(US.site_id, "u1") is None


@pytest.mark.parametrize("host", ["us", "eu"])
@pytest.mark.parametrize(
    ("workspace", "url", "environment"),
    [(US, "https://track.customer.io", 1), (EU, "https://track-eu.customer.io", 2)],
)
async def test_region_lookup_answers_from_either_host(
    host: str, workspace: Workspace, url: str, environment: int
) -> None:
    async with track_client(new_state(), region=host, workspace=workspace) as client:
        response = await client.get("/api/v1/accounts/region")
    assert response.status_code == 200
    assert response.json() == {
        "url": url,
        "region": workspace.region,
        "environment_id": environment,
    }


async def test_region_lookup_with_a_bad_key_is_401() -> None:
    wrong = Workspace(EU.site_id, "nope", EU.app_api_key, "eu")
    async with track_client(new_state(), region="us", workspace=wrong) as client:
        response = await client.get("/api/v1/accounts/region")
    assert response.status_code == 401


async def app_api(region: str, key: str) -> httpx.Response:
    async with track_client(new_state(), region=region, workspace=None) as client:
        return await client.get("/v1/workspaces", headers={"Authorization": f"Bearer {key}"})


async def test_app_api_accepts_the_app_key_of_a_workspace_in_that_region() -> None:
    response = await app_api("us", US.app_api_key)
    assert response.status_code == 200
    [workspace] = response.json()["workspaces"]
    assert workspace["id"] == 1 and workspace["name"] == US.site_id


@pytest.mark.parametrize(
    ("region", "key"),
    [("us", "wrong"), ("us", US.track_api_key), ("us", EU.app_api_key), ("eu", US.app_api_key)],
)
async def test_app_api_refuses_a_wrong_key_or_region_with_401(region: str, key: str) -> None:
    assert (await app_api(region, key)).status_code == 401


async def test_request_log_names_workspace_and_region_but_never_the_credentials() -> None:
    state = new_state()
    async with track_client(state, region="us", workspace=EU) as client:
        await client.get("/api/v1/accounts/region")
        await client.put("/api/v1/customers/u1", json={})
    log = state.request_log()
    assert [(r["method"], r["path"], r["status"], r["workspace"], r["region"]) for r in log] == [
        ("GET", "/api/v1/accounts/region", 200, EU.site_id, "us"),
        ("PUT", "/api/v1/customers/u1", 307, EU.site_id, "us"),
    ]
    text = repr(log) + repr(state.workspaces)
    assert EU.track_api_key not in text and "Basic" not in text
