"""The host end to end against the local Customer.io emulator, in process.

Each region's emulator app sits behind `httpx.ASGITransport`, reached at the real
Customer.io hosts: the config the user installs (its region) decides where events
go. Faults are injected, and results read, through the emulator's HTTP inspection
API; the only other thing used is its public constructors.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from host_support import ADMIN, HostClient, running_host, track

from signal_dest_cio.emulator import EmulatorState, Workspace, create_app
from signal_dest_cio.host import RetryPolicy

# Every test here runs on both stores (SQLite, PostgreSQL).
pytestmark = pytest.mark.usefixtures("store_backend")

US = Workspace("host-e2e-us", "trk-E2E-US-SECRET", "app-E2E-US-SECRET", "us")
EU = Workspace("host-e2e-eu", "trk-E2E-EU-SECRET", "app-E2E-EU-SECRET", "eu")
US_TRACK, EU_TRACK = "https://track.customer.io", "https://track-eu.customer.io"
HOSTS = {
    "track.customer.io": "us",
    "api.customer.io": "us",
    "track-eu.customer.io": "eu",
    "api-eu.customer.io": "eu",
}


def config_for(workspace: Workspace, **options: Any) -> dict[str, Any]:
    return {
        "site_id": workspace.site_id,
        "tracking_api_key": workspace.track_api_key,
        "api_key": workspace.app_api_key,
        "region": workspace.region,
        "max_requests_per_second": 10_000,
        **options,
    }


class Emulator:
    """Both regions of one emulator state, as the Customer.io hosts."""

    def __init__(self) -> None:
        self.state = EmulatorState([US, EU])
        self.apps = {
            "us": create_app(self.state, "us", other_region_url=EU_TRACK),
            "eu": create_app(self.state, "eu", other_region_url=US_TRACK),
        }

    def transport(self) -> httpx.AsyncBaseTransport:
        return RegionRouter({region: httpx.ASGITransport(app) for region, app in self.apps.items()})

    def inspect(self, region: str = "us") -> httpx.AsyncClient:
        base = US_TRACK if region == "us" else EU_TRACK
        return httpx.AsyncClient(transport=httpx.ASGITransport(self.apps[region]), base_url=base)

    async def fault(self, **fault: Any) -> None:
        async with self.inspect() as client:
            response = await client.post("/_emulator/faults", json=fault)
            assert response.status_code == 201, response.text

    async def activity(self, workspace: Workspace) -> Counter[str]:
        """How many times each message (by its `message` property) is stored."""
        async with self.inspect(workspace.region) as client:
            people = (await client.get(f"/_emulator/workspaces/{workspace.site_id}/people")).json()
        return Counter(
            str(entry["data"].get("message"))
            for person in people["people"]
            for entry in person["activity"]
        )

    async def summary(self, workspace: Workspace) -> dict[str, Any]:
        async with self.inspect(workspace.region) as client:
            found: dict[str, Any] = (
                await client.get(f"/_emulator/workspaces/{workspace.site_id}")
            ).json()
            return found

    def rotate_track_key(self, workspace: Workspace, new_key: str) -> None:
        """The key is revoked in Customer.io and a new one issued."""
        index = self.state.workspaces.index(workspace)
        self.state.workspaces[index] = replace(workspace, track_api_key=new_key)


class RegionRouter(httpx.AsyncBaseTransport):
    """Sends each request to the emulator app of its host's region."""

    def __init__(self, regions: dict[str, httpx.AsyncBaseTransport]) -> None:
        self.regions = regions

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        region = HOSTS.get(request.url.host)
        if region is None:
            raise httpx.ConnectError(f"no route to {request.url.host}", request=request)
        return await self.regions[region].handle_async_request(request)


@pytest.fixture
def emulator() -> Emulator:
    return Emulator()


@pytest.fixture
async def host(emulator: Emulator) -> AsyncIterator[HostClient]:
    async with running_host(emulator.transport, policy=RetryPolicy(max_attempts=6)) as running:
        yield running


async def install(host: HostClient, config: dict[str, Any], verify: bool = False) -> Any:
    query = "?verify=true" if verify else ""
    return await host.http.post(
        f"/v1/admin/integration-catalog/customer_io/install{query}",
        headers=ADMIN,
        json={"name": "Customer.io", "config": config},
    )


async def test_verify_against_the_emulator_refuses_the_wrong_region(host: HostClient) -> None:
    wrong = await install(host, config_for(US, region="eu"), verify=True)
    assert wrong.status_code == 422
    error = wrong.json()["error"]
    assert error["code"] == "verification_failed"
    assert "set region to 'us'" in error["message"]
    assert "region" in [detail["check"] for detail in error["details"]]
    bad_key = await install(host, config_for(US, tracking_api_key="revoked"), verify=True)
    assert bad_key.status_code == 422
    assert bad_key.json()["error"]["details"][0]["check"] == "track_credentials"
    assert US.track_api_key not in wrong.text + bad_key.text
    right = await install(host, config_for(US), verify=True)
    assert right.status_code == 201


async def test_send_test_event_lands_in_the_emulator(host: HostClient, emulator: Emulator) -> None:
    installed = (await install(host, config_for(EU))).json()
    response = await host.http.post(
        f"/v1/admin/integrations/{installed['id']}/send-test-event",
        headers=ADMIN,
        json={"type": "identify", "user_id": "eu-user-1"},
    )
    record = response.json()
    assert record["status"] == "delivered", record
    assert record["requests"][0]["url"] == f"{EU_TRACK}/api/v2/batch"
    async with emulator.inspect("eu") as client:
        person = await client.get(f"/_emulator/workspaces/{EU.site_id}/people/eu-user-1")
    assert person.json()["identifiers"]["email"] == "eu-user-1@example.com"
    assert person.json()["attributes"]["plan"] == "trial"


async def test_end_to_end_with_faults_and_a_revoked_key_every_event_accounted_for(
    host: HostClient, emulator: Emulator
) -> None:
    """429s, 5xx, a timeout (applied, answer lost), a dropped connection and a revoked key:
    every event ends stored once in the emulator or dead-lettered with its reason.

    The first batch meets six faults in a row and spends its six attempts; it is
    dead-lettered (`retries_exhausted`) and replayed once the key is fixed."""
    installed = (await install(host, config_for(US))).json()
    host.worker.batch_size = 8
    events = [track(n) for n in range(50)]
    events[7] = {"type": "identify", "messageId": "msg-7", "traits": {"plan": "x"}}
    events[33] = {"type": "track", "messageId": "msg-33", "userId": "u"}  # no event name
    await emulator.fault(kind="status", status=429, count=2, retry_after="2")
    await emulator.fault(kind="status", status=503, count=1)
    await emulator.fault(kind="slow", seconds=5, count=1)
    await emulator.fault(kind="drop", count=1)
    await emulator.fault(kind="status", status=500, count=1)
    await host.send(events[:25])
    for _ in range(6):
        await host.worker.run_once()
        host.clock.advance(60)

    emulator.rotate_track_key(US, "trk-E2E-US-ROTATED")
    await host.send(events[25:])
    await host.worker.drain()
    integration = await host.integration(installed["id"])
    assert integration["status"] == "paused"
    assert integration["paused"]["code"] == "invalid_credentials"

    revision = await host.http.post(
        f"/v1/admin/integrations/{installed['id']}/revisions",
        headers=ADMIN,
        json={"config": {"tracking_api_key": "trk-E2E-US-ROTATED"}},
    )
    assert revision.status_code == 201
    await emulator.fault(kind="status", status=502, count=2)
    await host.worker.drain()
    dead = await host.deliveries(installed["id"], status="dead_lettered")
    reasons = Counter(d["reason"]["code"] for d in dead)
    assert reasons["retries_exhausted"] >= 1
    assert set(reasons) == {"retries_exhausted", "missing_identifier", "missing_event_name"}
    replay = await host.http.post(f"/v1/admin/integrations/{installed['id']}/replay", headers=ADMIN)
    assert replay.json()["requeued"] == len(dead)
    await host.worker.drain()

    deliveries = await host.deliveries(installed["id"])
    statuses = Counter(d["status"] for d in deliveries)
    assert statuses == {"delivered": 48, "dead_lettered": 2}
    assert sum(statuses.values()) == len(events)  # none lost
    final = {d["message_id"]: d["reason"]["code"] for d in deliveries if d["reason"]}
    assert final == {"msg-7": "missing_identifier", "msg-33": "missing_event_name"}
    delivered = {d["message_id"] for d in deliveries if d["status"] == "delivered"}
    stored = await emulator.activity(US)
    assert stored == Counter({message_id: 1 for message_id in delivered})  # exactly once
    assert {h["code"] for d in deliveries for h in d["history"]} >= {
        "invalid_credentials",
        "rate_limited",
        "server_error",
        "timeout",
        "connection_error",
    }
    # The slow request was applied before its answer was lost: the resend was a duplicate
    # the emulator ignored, thanks to the dedup id.
    assert (await emulator.summary(US))["duplicate_events_ignored"] >= 1


async def test_a_restarted_host_finishes_its_queue_into_the_emulator(
    emulator: Emulator, tmp_path: Any
) -> None:
    db = str(tmp_path / "host.db")
    async with running_host(emulator.transport, db=db) as first:
        installed = (await install(first, config_for(US))).json()
        await emulator.fault(kind="status", status=503, count=1)
        await first.send([track(n) for n in range(12)])
        await first.worker.run_once()
    async with running_host(emulator.transport, db=db) as second:
        second.clock.advance(3600)
        await second.worker.drain()
        deliveries = await second.deliveries(installed["id"])
    assert Counter(d["status"] for d in deliveries) == {"delivered": 12}
    assert await emulator.activity(US) == Counter({f"msg-{n}": 1 for n in range(12)})
