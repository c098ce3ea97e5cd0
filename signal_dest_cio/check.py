"""Test connection: Track credentials, the workspace's real region, and the App API key."""

from __future__ import annotations

from typing import Literal

import httpx
from pydantic import BaseModel

from .client import REGION_PATH, USER_AGENT
from .config import CustomerIoConfig
from .routes import route_for

# A cheap App API read that needs a valid App key.
APP_CHECK_PATH = "/v1/workspaces"

CheckName = Literal["track_credentials", "region", "app_key", "cdp_key"]


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
    if config.pipelines:
        checks.append(await _cdp_check(config, transport, timeout, headers))
    else:
        site_id, track_key = config.track_credentials()
        async with httpx.AsyncClient(
            base_url=config.track_base_url,
            auth=httpx.BasicAuth(site_id, track_key),
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
    if config.api_key is not None:
        checks.append(await _app_key_check(config, app_transport, timeout, headers))
    return CheckReport(ok=all(check.ok for check in checks), region=region, checks=checks)


async def _app_key_check(
    config: CustomerIoConfig,
    transport: httpx.AsyncBaseTransport | None,
    timeout: httpx.Timeout,
    headers: dict[str, str],
) -> CheckResult:
    assert config.api_key is not None
    bearer = {**headers, "Authorization": f"Bearer {config.api_key.get_secret_value()}"}
    async with httpx.AsyncClient(
        base_url=config.app_base_url, headers=bearer, timeout=timeout, transport=transport
    ) as app:
        try:
            response = await app.get(APP_CHECK_PATH)
        except httpx.HTTPError as error:
            return _unreachable("app_key", error)
    return _app_check(response.status_code)


async def _cdp_check(
    config: CustomerIoConfig,
    transport: httpx.AsyncBaseTransport | None,
    timeout: httpx.Timeout,
    headers: dict[str, str],
) -> CheckResult:
    """An empty strict-mode batch: any answer but 401/403 means the key was accepted.

    The Data Pipelines API has no region lookup: a key of a workspace in the other
    region is refused like a wrong key, so the message says to check both.
    """
    route = route_for(config)
    async with httpx.AsyncClient(
        base_url=route.base_url,
        auth=route.auth,
        timeout=timeout,
        headers={**headers, **route.headers},
        transport=transport,
    ) as cdp:
        try:
            response = await cdp.post(route.batch_path, json={"batch": []})
        except httpx.HTTPError as error:
            return _unreachable("cdp_key", error)
    if response.status_code in (401, 403):
        other = "EU" if config.region.value == "us" else "US"
        return CheckResult(
            name="cdp_key",
            ok=False,
            message=f"Customer.io refused the CDP API key at {config.region.value.upper()} "
            f"(a key of a workspace in the {other} region is refused the same way: check "
            "the key and the region)",
        )
    if response.status_code >= 500:
        return CheckResult(
            name="cdp_key", ok=False, message=f"Data Pipelines answered {response.status_code}"
        )
    return CheckResult(name="cdp_key", ok=True, message="CDP API key accepted")


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
