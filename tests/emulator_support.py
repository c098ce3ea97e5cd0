"""Shared pieces of the emulator tests (not a test module): state, in-process clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from signal_dest_cio import CustomerIoDestination
from signal_dest_cio.emulator import EmulatorState, Workspace, create_app
from signal_dest_cio.emulator.workspaces import DEMO_EU, DEMO_US

US, EU = DEMO_US, DEMO_EU
US_BASE = "http://127.0.0.1:8010"
EU_BASE = "http://127.0.0.1:8011"
BASES = {"us": US_BASE, "eu": EU_BASE}
NOW = 1_800_000_000
ULID_A = "01HZY8Q0J6X7V2M3N4P5Q6R7S8"
ULID_B = "01HZY8Q0J6X7V2M3N4P5Q6R7S9"


class Clock:
    """A settable clock, so arrival times in the emulator are known."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def new_state(clock: Clock | None = None) -> EmulatorState:
    return EmulatorState([US, EU], clock=clock or Clock())


def app_for(state: EmulatorState, region: str = "us") -> Any:
    other = EU_BASE if region == "us" else US_BASE
    return create_app(state, "eu" if region == "eu" else "us", other_region_url=other)


@asynccontextmanager
async def track_client(
    state: EmulatorState, region: str = "us", workspace: Workspace | None = US
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on one region's app, authenticated as `workspace` (None: no auth)."""
    auth = (workspace.site_id, workspace.track_api_key) if workspace else None
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app_for(state, region)),
        base_url=BASES[region],
        auth=auth,
    ) as client:
        yield client


def person(state: EmulatorState, identifier: str, workspace: Workspace = US) -> dict[str, Any]:
    found = state.person_view(workspace.site_id, identifier)
    assert found is not None, f"no person {identifier!r}"
    return found


def activity_names(state: EmulatorState, identifier: str) -> list[str]:
    return [entry["name"] for entry in person(state, identifier)["activity"]]


def emulator_destination(
    state: EmulatorState,
    api: str = "v2",
    workspace: Workspace = US,
    region: str = "us",
    **options: Any,
) -> CustomerIoDestination:
    """The destination in `api` mode, sending to the US emulator app in process; `options`
    are more config settings (mappings, say)."""
    transport = httpx.ASGITransport(app=app_for(state, "us"))
    config = {
        "site_id": workspace.site_id,
        "tracking_api_key": workspace.track_api_key,
        "api_key": workspace.app_api_key,
        "region": region,
        "api": api,
        "max_requests_per_second": 10_000,
        "track_api_base_url": US_BASE,
        "app_api_base_url": US_BASE,
        **options,
    }
    return CustomerIoDestination(config, transport=transport, app_transport=transport)
