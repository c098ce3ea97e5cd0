"""The loop closed (SPEC 9 and 10): the host sends a transactional email through Customer.io
(the emulator), Customer.io posts the signed reporting webhook back to the host, and the
host fans it out to another workspace's integration — never back into the first."""

from __future__ import annotations

from typing import Any

import httpx
from host_support import ADMIN, running_host

from signal_dest_cio.emulator import EmulatorState, create_app
from signal_dest_cio.emulator.workspaces import DEMO_EU, DEMO_US
from signal_dest_cio.host import ManualClock

KEY = "whsec-LOOP-SIGNING-1234"
BASES = {"us": "http://127.0.0.1:8010", "eu": "http://127.0.0.1:8011"}


class Regions(httpx.AsyncBaseTransport):
    """Both regions' emulator apps, told apart by the port of the override URLs."""

    def __init__(self, state: EmulatorState) -> None:
        self.apps = {
            8010: httpx.ASGITransport(create_app(state, "us", other_region_url=BASES["eu"])),
            8011: httpx.ASGITransport(create_app(state, "eu", other_region_url=BASES["us"])),
        }

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.apps[request.url.port or 8010].handle_async_request(request)


def config(workspace: Any, **options: Any) -> dict[str, Any]:
    base = BASES[workspace.region]
    return {
        "site_id": workspace.site_id,
        "tracking_api_key": workspace.track_api_key,
        "api_key": workspace.app_api_key,
        "region": workspace.region,
        "track_api_base_url": base,
        "app_api_base_url": base,
        "max_requests_per_second": 10_000,
        **options,
    }


async def test_a_send_comes_back_as_a_webhook_and_lands_in_the_other_workspace() -> None:
    clock = ManualClock()
    state = EmulatorState([DEMO_US, DEMO_EU], clock=clock.now)
    async with running_host(lambda: Regions(state), clock=clock) as host:
        install = "/v1/admin/integration-catalog/customer_io/install"
        source = (
            await host.http.post(
                install,
                headers=ADMIN,
                json={"name": "US", "config": config(DEMO_US, reporting_webhook_signing_key=KEY)},
            )
        ).json()
        other = (
            await host.http.post(
                install, headers=ADMIN, json={"name": "EU", "config": config(DEMO_EU)}
            )
        ).json()
        sent = await host.http.post(
            f"/v1/admin/integrations/{source['id']}/transactional",
            headers=ADMIN,
            json={
                "transactional_message_id": 7,
                "to": "ada@example.com",
                "identifiers": {"id": "u1"},
                "message_data": {"order": "A-1"},
            },
        )
        assert sent.status_code == 200, sent.text
        delivery_id = sent.json()["body"]["delivery_id"]

        for metric in ("delivered", "opened"):
            for headers, body in state.reporting_webhooks(
                DEMO_US.site_id, KEY, [{"metric": metric, "delivery_id": delivery_id}]
            ):
                answer = await host.http.post(
                    f"/v1/sources/customer_io/{source['id']}/reporting-webhooks",
                    content=body,
                    headers=dict(headers),
                )
                assert answer.status_code == 200, answer.text
        await host.worker.drain()

        other_deliveries = await host.deliveries(other["id"])
        source_deliveries = await host.deliveries(source["id"])
    names = sorted(d["input"]["event"] for d in other_deliveries)
    assert names == ["Email Delivered", "Email Opened"]
    assert all(d["status"] == "delivered" for d in other_deliveries)
    assert source_deliveries == []  # never back into the workspace it came from
    eu_person = state.person_view(DEMO_EU.site_id, "u1")
    assert eu_person is not None
    landed = sorted(a["name"] for a in eu_person["activity"])
    assert landed == ["Email Delivered", "Email Opened"]
    us_person = state.person_view(DEMO_US.site_id, "u1")
    assert us_person is None or all(
        a["name"] not in ("Email Delivered", "Email Opened") for a in us_person["activity"]
    )
