"""Two delivery workers on one PostgreSQL database (SPEC 11), in one process for precise
control: a worker never sends what another holds, a worker whose lease is taken stops
its own sends at its next renewal and settles nothing, and a dead worker's claims are
sent again by the next holder once its lease has run out, which says so; work stored by
one process wakes another's worker at once; a pause and a resume go through any process."""

from __future__ import annotations

import asyncio
import os
import time

import httpx
import psycopg
import pytest
from host_support import (
    ADMIN,
    PG_SECRET_KEY,
    TRACK_KEY,
    FakeCustomerIo,
    HostClient,
    running_host,
    schema_url,
    track,
)

from signal_dest_cio.host import create_app


@pytest.fixture
def db(postgres_server: str) -> str:
    return schema_url(postgres_server, "leases_" + os.urandom(5).hex())


class HangingVendor:
    """Takes every request and never answers (until the test ends)."""

    def __init__(self) -> None:
        self.requests = 0

    def transport(self) -> httpx.AsyncBaseTransport:
        async def handle(request: httpx.Request) -> httpx.Response:
            self.requests += 1
            await asyncio.sleep(60)
            return httpx.Response(200, json={})

        return httpx.MockTransport(handle)


async def start_round_and_wait_for_a_request(
    host: HostClient, vendor: HangingVendor
) -> asyncio.Task[int]:
    round_ = asyncio.create_task(host.worker.run_once())
    deadline = time.monotonic() + 10
    while not vendor.requests:
        assert time.monotonic() < deadline and not round_.done()
        await asyncio.sleep(0.01)
    return round_


async def test_a_worker_whose_lease_is_taken_stops_sending_and_settles_nothing(db: str) -> None:
    vendor = HangingVendor()
    async with running_host(vendor.transport, db=db, secret_key=PG_SECRET_KEY) as host:
        host.worker.leases.seconds = 0.9  # renewed every 0.3 s while requests are out
        installed = await host.install(verify=False)  # the vendor hangs: no check
        await host.send([track(n) for n in range(3)])
        round_ = await start_round_and_wait_for_a_request(host, vendor)
        with psycopg.connect(db, autocommit=True) as conn:  # another worker takes it over
            conn.execute(
                "UPDATE integration_leases SET leased_by = 'another-worker', token = token + 1,"
                " leased_until = extract(epoch FROM clock_timestamp()) + 60"
            )
        started = time.monotonic()
        assert await round_ == 0
        assert time.monotonic() - started < 1.5  # at the next renewal, not the vendor's pace
        rows = host.host.store.list_deliveries(installed["id"])
        assert {(d.status, d.attempts) for d in rows} == {("pending", 0)}
        assert {d.leased_by for d in rows} == {host.worker.leases.owner}  # claimed, unsettled


async def test_a_dead_workers_claims_wait_for_its_lease_then_go_out_again_once(db: str) -> None:
    vendor, target = HangingVendor(), FakeCustomerIo()
    async with running_host(vendor.transport, db=db, secret_key=PG_SECRET_KEY) as first:
        first.worker.leases.seconds = 2.0
        installed = await first.install(verify=False)  # the vendor hangs: no check
        await first.send([track(n) for n in range(5)])
        round_ = await start_round_and_wait_for_a_request(first, vendor)
        round_.cancel()  # the first worker dies mid-round: no release, no settling
        await asyncio.gather(round_, return_exceptions=True)
        dead = first.worker.leases.owner

        async with running_host(target.transport, db=db, secret_key=PG_SECRET_KEY) as second:
            assert await second.worker.run_once() == 0  # the lease still holds: hands off
            assert target.data_requests == 0
            await asyncio.sleep(2.2)  # the dead worker's beat and lease run out
            assert await second.worker.run_once() == 5
            deliveries = await second.deliveries(installed["id"])

    assert {d["status"] for d in deliveries} == {"delivered"}
    assert all(count == 1 for count in target.accepted.values()) and len(target.accepted) == 5
    for delivery in deliveries:
        [taken] = [e for e in delivery["history"] if e["kind"] == "reclaimed"]
        assert taken["leased_by"] == dead and taken["code"] == "lease_expired"


async def test_events_one_process_takes_wake_the_worker_of_another_at_once(db: str) -> None:
    """LISTEN/NOTIFY: the delivering process polls only every 30 s here, yet delivers
    within moments of another process storing the events."""
    target = FakeCustomerIo()
    async with running_host(target.transport, db=db, secret_key=PG_SECRET_KEY) as taker:
        installed = await taker.install()
        other = create_app(db=db, admin_token="t", signing_secret="s", secret_key=PG_SECRET_KEY,
                           transport_factory=target.transport, poll_seconds=30)  # fmt: skip
        worker = other.state.host.worker
        worker.start()
        try:
            await asyncio.sleep(1.0)  # its first look found nothing; the next is 30 s away
            await taker.send([track(n) for n in range(4)])
            deadline = time.monotonic() + 5
            while len(target.accepted) < 4:
                assert time.monotonic() < deadline, "the other process was not woken"
                await asyncio.sleep(0.05)
        finally:
            await worker.stop()
            other.state.host.store.close()
        counts = (await taker.integration(installed["id"]))["deliveries"]
    assert counts["delivered"] == 4


async def test_a_pause_is_seen_and_lifted_through_another_process(db: str) -> None:
    """Admin calls may land on any process: the one that delivers pauses on a revoked key,
    another shows it, resumes it and lists what was then delivered."""
    target = FakeCustomerIo()
    async with (
        running_host(target.transport, db=db, secret_key=PG_SECRET_KEY) as worker,
        running_host(target.transport, db=db, secret_key=PG_SECRET_KEY) as admin,
    ):
        installed = await worker.install()
        target.track_key = "revoked"
        await admin.send([track(n) for n in range(3)])  # taken by the other process
        await worker.worker.run_once()
        assert (await admin.integration(installed["id"]))["status"] == "paused"
        target.track_key = TRACK_KEY
        resumed = await admin.http.post(
            f"/v1/admin/integrations/{installed['id']}/resume", headers=ADMIN
        )
        assert resumed.json()["status"] == "active"
        await worker.worker.drain()
        listed = await admin.deliveries(installed["id"])
    assert {d["status"] for d in listed} == {"delivered"} and len(listed) == 3
    assert all(d["attempts"] == 1 for d in listed)  # the paused try used no attempt
