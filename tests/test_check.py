"""The connection check: Track credentials, the workspace's region, the App key (SPEC 5)."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from signal_dest_cio import CustomerIoDestination
from signal_dest_cio.check import APP_CHECK_PATH, CheckReport
from signal_dest_cio.client import REGION_PATH

SITE_ID = "site-check"
TRACK_KEY = "track-secret-key"
APP_KEY = "app-secret-key"
BASIC = "Basic " + base64.b64encode(f"{SITE_ID}:{TRACK_KEY}".encode()).decode()


class Host:
    """A MockTransport handler that records requests and answers one fixed response."""

    def __init__(self, status: int = 200, json: Any = None) -> None:
        self.status = status
        self.json = json if json is not None else {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, json=self.json)


def region_answer(region: str) -> Host:
    suffix = "-eu" if region == "eu" else ""
    return Host(
        200,
        {"url": f"https://track{suffix}.customer.io", "region": region, "environment_id": 1},
    )


async def check(track: Any, app: Any, region: str = "us") -> CheckReport:
    destination = CustomerIoDestination(
        {"site_id": SITE_ID, "tracking_api_key": TRACK_KEY, "api_key": APP_KEY, "region": region},
        transport=httpx.MockTransport(track),
        app_transport=httpx.MockTransport(app),
    )
    async with destination:
        return await destination.check()


def results(report: CheckReport) -> dict[str, bool]:
    return {check.name: check.ok for check in report.checks}


def message(report: CheckReport, name: str) -> str:
    return next(check.message for check in report.checks if check.name == name)


@pytest.mark.parametrize(
    ("region", "track_host", "app_host"),
    [
        ("us", "track.customer.io", "api.customer.io"),
        ("eu", "track-eu.customer.io", "api-eu.customer.io"),
    ],
)
async def test_good_credentials_in_the_right_region_pass_every_check(
    region: str, track_host: str, app_host: str
) -> None:
    track, app = region_answer(region), Host(200, {"workspaces": []})
    report = await check(track, app, region)
    assert report.ok
    assert report.region == region
    assert results(report) == {"track_credentials": True, "region": True, "app_key": True}
    [track_request] = track.requests
    [app_request] = app.requests
    assert (track_request.method, track_request.url.path) == ("GET", REGION_PATH)
    assert (track_request.url.scheme, track_request.url.host) == ("https", track_host)
    assert (app_request.method, app_request.url.path) == ("GET", APP_CHECK_PATH)
    assert (app_request.url.scheme, app_request.url.host) == ("https", app_host)


async def test_track_requests_use_basic_auth_and_app_requests_use_the_bearer_key() -> None:
    track, app = region_answer("us"), Host()
    await check(track, app)
    assert track.requests[0].headers["Authorization"] == BASIC
    assert app.requests[0].headers["Authorization"] == f"Bearer {APP_KEY}"


async def test_refused_track_key_fails_track_credentials_and_still_checks_the_app_key() -> None:
    track, app = Host(401, {"meta": {"error": "Unauthorized"}}), Host()
    report = await check(track, app)
    assert not report.ok
    assert report.region is None
    assert results(report) == {"track_credentials": False, "app_key": True}
    assert "Track API key" in message(report, "track_credentials")
    assert len(app.requests) == 1


async def test_workspace_in_the_other_region_fails_the_region_check_naming_it() -> None:
    report = await check(region_answer("eu"), Host(), "us")
    assert not report.ok
    assert report.region == "eu"
    assert results(report) == {"track_credentials": True, "region": False, "app_key": True}
    assert "EU" in message(report, "region")
    assert "'eu'" in message(report, "region")


async def test_refused_app_key_fails_only_the_app_key_check() -> None:
    report = await check(region_answer("us"), Host(401, {"errors": [{"detail": "nope"}]}))
    assert not report.ok
    assert results(report) == {"track_credentials": True, "region": True, "app_key": False}
    assert "App API key" in message(report, "app_key")


async def test_unreachable_hosts_fail_their_checks_with_a_message() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    report = await check(unreachable, unreachable)
    assert not report.ok
    assert results(report) == {"track_credentials": False, "app_key": False}
    assert "ConnectError" in message(report, "track_credentials")


async def test_check_report_never_carries_the_secrets() -> None:
    report = await check(Host(401), Host(403))
    text = report.model_dump_json()
    assert TRACK_KEY not in text
    assert APP_KEY not in text
