"""Each integration delivers on its own (SPEC 4.1): a vendor that hangs holds up only
its own integration, and delivery runs off the loop that answers the API."""

from __future__ import annotations

import asyncio
import base64
import threading

import httpx
import pytest
from host_support import ADMIN, HostClient, running_host, track

# Every test here runs on both stores (SQLite, PostgreSQL).
pytestmark = pytest.mark.usefixtures("store_backend")

SLOW_SITE, FAST_SITE = "site-hangs", "site-answers"
EVENTS = 300


class TwoVendors:
    """One workspace never answers; the other answers at once. Records who ran where."""

    def __init__(self) -> None:
        self.delivered: dict[str, int] = {SLOW_SITE: 0, FAST_SITE: 0}
        self.hanging = 0
        self.threads: set[int] = set()

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.threads.add(threading.get_ident())
        header = request.headers.get("authorization", "").removeprefix("Basic ")
        site = base64.b64decode(header).decode().split(":")[0] if header else ""
        if site == SLOW_SITE:
            self.hanging += 1
            await asyncio.Event().wait()  # never answers (cancelled when the worker stops)
        items = request.read().count(b'"type":"person"')
        self.delivered[site] = self.delivered.get(site, 0) + items
        return httpx.Response(200, json={})

    def transport(self) -> httpx.AsyncBaseTransport:
        return httpx.MockTransport(self.handle)


async def delivered(host: HostClient, integration_id: str) -> int:
    counts: dict[str, int] = (await host.integration(integration_id))["deliveries"]
    return counts["delivered"]


async def test_a_hanging_vendor_holds_up_only_its_own_integration() -> None:
    vendors = TwoVendors()
    async with running_host(vendors.transport) as host:
        # No connection check: the slow one's would hang, and these count delivery's threads.
        slow = await host.install(site_id=SLOW_SITE, verify=False)
        fast = await host.install(site_id=FAST_SITE, verify=False)
        host.worker.batch_size = 25  # many rounds, so a shared loop would show
        host.worker.start()
        try:
            await host.send([track(n) for n in range(EVENTS)])
            for _ in range(600):  # a bounded wait: at most about 30 s
                if await delivered(host, fast["id"]) == EVENTS:
                    break
                await asyncio.sleep(0.05)
            assert await delivered(host, fast["id"]) == EVENTS
            assert await delivered(host, slow["id"]) == 0
            assert vendors.hanging >= 1  # the slow one really is stuck in a request
            # The API still answers while a delivery hangs, and delivery ran elsewhere.
            assert (await host.http.get("/healthz")).status_code == 200
            assert threading.get_ident() not in vendors.threads
        finally:
            await host.worker.stop()
        assert vendors.delivered[FAST_SITE] == EVENTS


async def test_a_paused_integration_is_left_alone_and_picked_up_again_on_resume() -> None:
    vendors = TwoVendors()
    async with running_host(vendors.transport) as host:
        fast = await host.install(site_id=FAST_SITE, verify=False)
        host.host.store.set_paused(fast["id"], {"code": "invalid_credentials"}, host.clock.now())
        host.worker.start()
        try:
            await host.send([track(n) for n in range(10)])
            await asyncio.sleep(0.3)
            assert await delivered(host, fast["id"]) == 0
            response = await host.http.post(
                f"/v1/admin/integrations/{fast['id']}/resume", headers=ADMIN
            )
            assert response.status_code == 200
            for _ in range(200):
                if await delivered(host, fast["id"]) == 10:
                    break
                await asyncio.sleep(0.05)
            assert await delivered(host, fast["id"]) == 10
        finally:
            await host.worker.stop()
