"""Test connection: Track credentials, the workspace's real region, and the App API key."""

from __future__ import annotations

from typing import Literal

import httpx
from pydantic import BaseModel

from .client import REGION_PATH, USER_AGENT
from .config import CustomerIoConfig

# A cheap App API read that needs a valid App key.
APP_CHECK_PATH = "/v1/workspaces"

CheckName = Literal["track_credentials", "region", "app_key"]


class CheckResult(BaseModel):
    name: CheckName
    ok: bool
    message: str


class CheckReport(BaseModel):
    ok: bool
    region: str | None  # the region Customer.io says the workspace is in, when it could say
    checks: list[CheckResult]


def _unreachable(name: CheckName, error: httpx.HTTPError) -> CheckResult:
    return CheckResult(
        name=name, ok=False, message=f"could not reach Customer.io ({type(error).__name__})"
    )


async def check_connection(
    config: CustomerIoConfig,
    transport: httpx.AsyncBaseTransport | None = None,
    app_transport: httpx.AsyncBaseTransport | None = None,
) -> CheckReport:
    """Each credential checked on its own, so the report says exactly which one is wrong."""
    timeout = httpx.Timeout(config.timeout_seconds)
    headers = {"User-Agent": USER_AGENT}
    checks: list[CheckResult] = []
    region: str | None = None
    async with httpx.AsyncClient(
        base_url=config.track_base_url,
        auth=httpx.BasicAuth(config.site_id, config.tracking_api_key.get_secret_value()),
        timeout=timeout,
        headers=headers,
        transport=transport,
    ) as track:
        try:
            response = await track.get(REGION_PATH)
        except httpx.HTTPError as error:
            checks.append(_unreachable("track_credentials", error))
        else:
            region = _region_of(response)
            checks.extend(_track_checks(config, response.status_code, region))
    async with httpx.AsyncClient(
        base_url=config.app_base_url,
        headers={**headers, "Authorization": f"Bearer {config.api_key.get_secret_value()}"},
        timeout=timeout,
        transport=app_transport,
    ) as app:
        try:
            response = await app.get(APP_CHECK_PATH)
        except httpx.HTTPError as error:
            checks.append(_unreachable("app_key", error))
        else:
            checks.append(_app_check(response.status_code))
    return CheckReport(ok=all(check.ok for check in checks), region=region, checks=checks)


def _region_of(response: httpx.Response) -> str | None:
    if response.status_code != 200:
        return None
    try:
        region = response.json().get("region")
    except (ValueError, AttributeError):
        return None
    return region if region in ("us", "eu") else None


def _track_checks(config: CustomerIoConfig, status: int, region: str | None) -> list[CheckResult]:
    if status in (401, 403):
        return [
            CheckResult(
                name="track_credentials",
                ok=False,
                message="Customer.io refused the site_id and Track API key",
            )
        ]
    if status != 200:
        return [
            CheckResult(
                name="track_credentials", ok=False, message=f"Customer.io answered {status}"
            )
        ]
    configured = config.region.value
    if region is None:
        message = "Customer.io accepted the credentials but did not say which region"
    elif region == configured:
        message = f"the workspace is in {configured.upper()}, as configured"
    else:
        message = (
            f"the workspace is in the {region.upper()} region, but the destination "
            f"is configured for {configured.upper()}: set region to {region!r}"
        )
    region_check = CheckResult(name="region", ok=region == configured, message=message)
    return [
        CheckResult(name="track_credentials", ok=True, message="Track API credentials accepted"),
        region_check,
    ]


def _app_check(status: int) -> CheckResult:
    if 200 <= status < 300:
        return CheckResult(name="app_key", ok=True, message="App API key accepted")
    if status in (401, 403):
        return CheckResult(name="app_key", ok=False, message="Customer.io refused the App API key")
    return CheckResult(name="app_key", ok=False, message=f"App API answered {status}")
