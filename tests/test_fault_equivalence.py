"""Fault equivalence (SPEC 4.1): the same end state in Customer.io whether or not anything
failed.

A seeded sequence of a few hundred events over a dozen people, with every pattern
whose outcome depends on order, goes through the host into the emulator twice: once
with nothing failing, once through injected 429s (with Retry-After), 5xx, dropped
connections, answers later than the timeout and a host killed mid-delivery and
started again on the same database. The two workspaces must end identical: people,
attributes, devices, events by dedup id, anonymous activity, merges and deletions.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import httpx
import pytest
from host_support import ADMIN, HostClient, running_host

from signal_dest_cio.emulator import EmulatorState, Fault, Workspace, create_app
from signal_dest_cio.host import ManualClock

# Every test here runs on both stores (SQLite, PostgreSQL).
pytestmark = pytest.mark.usefixtures("store_backend")

CLEAN = Workspace(
    "equivalence-clean",
    "trk-EQ-CLEAN-SECRET",
    "app-EQ-CLEAN-SECRET",
    "us",
    cdp_api_key="cdp-EQ-CLEAN-SECRET",
)
FAULTY = Workspace(
    "equivalence-faulty",
    "trk-EQ-FAULTY-SECRET",
    "app-EQ-FAULTY-SECRET",
    "us",
    cdp_api_key="cdp-EQ-FAULTY-SECRET",
)
BASE = "http://127.0.0.1:8010"
PEOPLE = 12
SEED = 8


def story(person: int, rng: random.Random, big_fields: int = 40) -> list[dict[str, Any]]:
    """One person's events, in the order they happened; which patterns depends on them."""
    user, anon, old = f"u{person}", f"anon-{person}", f"old-{person}"
    events: list[dict[str, Any]] = [
        {"type": "page", "anonymousId": anon, "name": "Pricing",
         "properties": {"url": f"https://example.com/pricing?p={person}"}},
        {"type": "identify", "userId": user, "anonymousId": anon,
         "traits": {"email": f"{user}@example.com", "plan": "trial"}},
    ]  # fmt: skip
    if person % 3 == 0:  # a legacy profile, then identify, then alias it onto the new one
        events.insert(0, {"type": "identify", "userId": old, "traits": {"legacy": True}})
        events.append({"type": "alias", "userId": user, "previousId": old})
    if person % 4 == 1:  # an identify over 32 KB (v2 sends it by v1), then an alias
        blob = {f"field_{n}": "x" * 900 for n in range(big_fields)}
        events.append({"type": "identify", "userId": user, "traits": blob})
        events.append({"type": "identify", "userId": f"big-old-{person}", "traits": {"k": 1}})
        events.append({"type": "alias", "userId": user, "previousId": f"big-old-{person}"})
    if person % 4 == 2:  # a device added, then deleted
        token = f"tok-{person}"
        device = {"token": token, "type": "ios", "model": "iPhone"}
        events.append({"type": "track", "userId": user, "event": "Application Installed",
                       "context": {"device": device}})  # fmt: skip
        events.append({"type": "track", "userId": user, "event": "Device Deleted",
                       "context": {"device": {"token": token}}})  # fmt: skip
    for n in range(rng.randint(12, 22)):
        events.append(
            {"type": "track", "userId": user, "event": "feature.used",
             "properties": {"n": n, "area": rng.choice(["reports", "billing", "search"])}}
        )  # fmt: skip
        if rng.random() < 0.15:
            events.append({"type": "identify", "userId": user, "traits": {"seen": n}})
    if person % 5 == 4:  # identify, then the person is deleted
        events.append({"type": "identify", "userId": user, "traits": {"plan": "gone"}})
        events.append({"type": "track", "userId": user, "event": "User Deleted"})
    return events


def event_sequence(seed: int = SEED, big_fields: int = 40) -> list[dict[str, Any]]:
    """Every person's story, interleaved at random, each kept in its own order."""
    rng = random.Random(seed)
    stories = [story(person, rng, big_fields) for person in range(PEOPLE)]
    merged: list[dict[str, Any]] = []
    while any(stories):
        chosen = rng.choice([s for s in stories if s])
        merged.append(chosen.pop(0))
    for number, event in enumerate(merged):  # times rise with the sequence, 1 s apart
        event["messageId"] = f"eq-{number:04d}"
        event["timestamp"] = 1_770_000_000 + number
    return merged


class Emulator:
    def __init__(self) -> None:
        self.state = EmulatorState([CLEAN, FAULTY])
        self.app = create_app(self.state, "us", other_region_url="http://127.0.0.1:8011")

    def transport(self) -> httpx.AsyncBaseTransport:
        return httpx.ASGITransport(app=self.app)


def config_for(workspace: Workspace, api: str) -> dict[str, Any]:
    if api == "pipelines":  # the Data Pipelines API of the same emulator, same state
        return {
            "api": "pipelines",
            "cdp_api_key": workspace.cdp_api_key,
            "region": "us",
            "max_requests_per_second": 10_000,
            "timeout_seconds": 5,
            "pipelines_api_base_url": BASE + "/v1",
        }
    return {
        "site_id": workspace.site_id,
        "tracking_api_key": workspace.track_api_key,
        "api_key": workspace.app_api_key,
        "region": "us",
        "api": api,
        "max_requests_per_second": 10_000,
        "timeout_seconds": 5,
        "track_api_base_url": BASE,
        "app_api_base_url": BASE,
    }


async def install(host: HostClient, workspace: Workspace, api: str) -> str:
    response = await host.http.post(
        "/v1/admin/integration-catalog/customer_io/install",
        headers=ADMIN,
        json={"name": workspace.site_id, "config": config_for(workspace, api)},
    )
    assert response.status_code == 201, response.text
    integration_id: str = response.json()["id"]
    return integration_id


async def ingest(host: HostClient, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 60):
        response = await host.send(events[start : start + 60])
        assert response.status_code == 202 and response.json()["accepted"] == len(
            events[start : start + 60]
        )


def faults_for(workspace: Workspace, api: str, rng: random.Random) -> list[Fault]:
    """Failures aimed at the patterns that break without order, then some at random."""
    site = workspace.site_id
    aimed = [
        # the identify of a person whose legacy profile is aliased onto them next
        Fault(kind="status", status=503, workspace=site, body_contains='"u3@example.com"'),
        Fault(kind="status", status=429, retry_after="2", workspace=site, body_contains="big-old"),
        Fault(kind="status", status=500, workspace=site, body_contains='"plan":"gone"'),
        Fault(kind="drop", workspace=site, body_contains="tok-2"),
        Fault(kind="slow", seconds=30, workspace=site, body_contains="anon-7"),
        Fault(kind="status", status=429, retry_after="1", count=2, workspace=site, method="POST"),
    ]
    if api == "v1":
        aimed.append(
            Fault(kind="status", status=502, workspace=site, path="/api/v1/merge_customers")
        )
        aimed.append(
            Fault(
                kind="slow", seconds=30, workspace=site, method="PUT", path="/api/v1/customers/u0"
            )
        )
    kinds = [
        {"kind": "status", "status": 429, "retry_after": "3"},
        {"kind": "status", "status": 503},
        {"kind": "status", "status": 504},
        {"kind": "drop"},
        {"kind": "slow", "seconds": 30},
    ]
    scattered = [Fault(**rng.choice(kinds), workspace=site) for _ in range(6)]
    if api == "pipelines":  # aim at the Data Pipelines paths (/v1/batch, /v1/alias)
        aimed = [f.model_copy(update={"path_prefix": "/v1/"}) for f in aimed]
        scattered = [f.model_copy(update={"path_prefix": "/v1/"}) for f in scattered]
    return aimed + scattered


async def deliver_all(host: HostClient) -> None:
    await host.worker.drain()
    counts = [
        (await host.integration(i["id"]))["deliveries"]
        for i in (await host.http.get("/v1/admin/integrations", headers=ADMIN)).json()["data"]
    ]
    for count in counts:
        assert count["pending"] == 0 and count["dead_lettered"] == 0, counts


async def killed_mid_round(host: HostClient) -> None:
    """A delivery round cut off while its requests are out: nothing of it is settled."""
    round_ = asyncio.create_task(host.worker.run_once())
    for _ in range(3):
        await asyncio.sleep(0)
    round_.cancel()
    await asyncio.gather(round_, return_exceptions=True)


def deduplicated(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A merge or delete that Customer.io applied but never answered is sent again, and
    recorded twice when the lane's re-sent identify recreated its subject first: the
    end state is the same, so each counts once."""
    result = dict(snapshot)
    for key in ("merges", "deleted"):
        result[key] = [e for n, e in enumerate(result[key]) if e not in result[key][:n]]
    return result


@pytest.mark.parametrize("api", ["v2", "v1", "pipelines"])
async def test_the_workspace_ends_the_same_with_and_without_faults_and_a_restart(
    api: str, tmp_path: Path
) -> None:
    # A Data Pipelines call is at most 32 KB (no v1 fallback): the big identify fits.
    events = event_sequence(big_fields=30 if api == "pipelines" else 40)
    assert len(events) > 250
    emulator = Emulator()
    clock = ManualClock()

    async with running_host(emulator.transport, db=str(tmp_path / "clean.db")) as host:
        await install(host, CLEAN, api)
        await ingest(host, events)
        await deliver_all(host)

    rng = random.Random(SEED)
    db = str(tmp_path / "faulty.db")
    for fault in faults_for(FAULTY, api, rng):
        emulator.state.faults.add(fault)
    async with running_host(emulator.transport, db=db, clock=clock) as host:
        host.worker.batch_size = 40  # many rounds, so faults meet held lanes
        await install(host, FAULTY, api)
        await ingest(host, events)
        for _ in range(3):
            await host.worker.run_once()
            clock.advance(1)
        await killed_mid_round(host)
    later = faults_for(FAULTY, api, random.Random(SEED + 1))[-6:]
    for fault in later:
        emulator.state.faults.add(fault)
    async with running_host(emulator.transport, db=db, clock=clock) as host:
        await deliver_all(host)
        retried = [
            d
            for integration in (
                await host.http.get("/v1/admin/integrations", headers=ADMIN)
            ).json()["data"]
            for d in await host.deliveries(integration["id"])
            if d["attempts"] > 1
        ]

    assert emulator.state.faults.pending() == []  # every injected fault was met
    assert retried, "the faults must have made some deliveries retry"
    clean = deduplicated(emulator.state.snapshot(CLEAN.site_id))
    faulty = deduplicated(emulator.state.snapshot(FAULTY.site_id))
    assert len(clean["people"]) >= PEOPLE - 3 and clean["merges"] and clean["deleted"]
    assert faulty["people"] == clean["people"]
    assert faulty == clean
