"""A small client of the reference host's admin API (what `signal-cio admin` calls).

Errors are a small tree: `HostUnreachable` (no answer, or a 5xx), `AuthRefused` (the
token was refused), `ApiRefused` (the host answered 4xx, with its error envelope).
The token is sent in a header only; it is never part of a message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

DEFAULT_URL = "http://127.0.0.1:8084"  # where `signal-cio serve` listens by default
TIMEOUT = httpx.Timeout(30.0, connect=5.0)  # a test event waits for Customer.io


class AdminError(Exception):
    """The host could not do what was asked."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body  # the host's JSON answer, when there was one


class HostUnreachable(AdminError):
    """No answer from the host (connection, timeout), or the host failed (5xx)."""


class AuthRefused(AdminError):
    """The host refused the admin token (401/403)."""


class ApiRefused(AdminError):
    """The host refused the request (4xx): `code` and `details` from its envelope."""

    def __init__(self, message: str, status: int, body: Any, code: str, details: list[Any]) -> None:
        super().__init__(message, status, body)
        self.code = code
        self.details = details


class AdminClient:
    def __init__(
        self,
        url: str,
        token: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "signal-cio-admin"},
            timeout=TIMEOUT,
            transport=transport,
        )

    async def __aenter__(self) -> AdminClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._http.aclose()

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        try:
            response = await self._http.request(
                method, "/v1/admin" + path, json=json, params=params, headers=headers
            )
        except httpx.HTTPError as error:
            raise HostUnreachable(
                f"cannot reach the host at {self.url} ({type(error).__name__})"
            ) from None
        return _answer(response, self.url)

    # -- the routes ----------------------------------------------------------------------

    async def catalog(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await self.call("GET", "/integration-catalog"))["data"]
        return found

    async def install(
        self, key: str, body: Mapping[str, Any], *, verify: bool, allow_duplicate: bool
    ) -> Any:
        params = {"verify": _flag(verify), "allow_duplicate": _flag(allow_duplicate)}
        return await self.call(
            "POST", f"/integration-catalog/{_part(key)}/install", json=dict(body), params=params
        )

    async def integrations(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await self.call("GET", "/integrations"))["data"]
        return found

    async def integration(self, integration_id: str) -> Any:
        return await self.call("GET", f"/integrations/{_part(integration_id)}")

    async def revise(
        self, integration_id: str, config: Mapping[str, Any], *, base: int | None, verify: bool
    ) -> Any:
        body: dict[str, Any] = {"config": dict(config)}
        if base is not None:
            body["base_revision"] = base
        return await self.call(
            "POST",
            f"/integrations/{_part(integration_id)}/revisions",
            json=body,
            params={"verify": _flag(verify)},
        )

    async def switch(self, integration_id: str, action: str) -> Any:
        """`enable`, `disable` or `resume`."""
        return await self.call("POST", f"/integrations/{_part(integration_id)}/{action}")

    async def delete(self, integration_id: str) -> Any:
        return await self.call("DELETE", f"/integrations/{_part(integration_id)}")

    async def deliveries(
        self, integration_id: str, *, status: str | None, limit: int, every: bool
    ) -> dict[str, Any]:
        """One page of `limit` (newest first), or with `every` all of them."""
        path = f"/integrations/{_part(integration_id)}/deliveries"
        params: dict[str, Any] = {"limit": min(limit, 200)}
        if status:
            params["status"] = status
        page: dict[str, Any] = await self.call("GET", path, params=params)
        found = list(page["data"])
        while page.get("next_cursor") and (every or len(found) < limit):
            page = await self.call("GET", path, params={**params, "cursor": page["next_cursor"]})
            found += page["data"]
        if not every and len(found) > limit:
            return {**page, "data": found[:limit], "next_cursor": str(found[limit - 1]["id"])}
        return {**page, "data": found}

    async def replay(
        self,
        integration_id: str,
        delivery_ids: Sequence[int] | None,
        message_ids: Sequence[str] | None,
    ) -> Any:
        body: dict[str, Any] = {}
        if delivery_ids:
            body["delivery_ids"] = list(delivery_ids)
        if message_ids:
            body["message_ids"] = list(message_ids)
        return await self.call("POST", f"/integrations/{_part(integration_id)}/replay", json=body)

    async def test_event(self, integration_id: str, body: Mapping[str, Any]) -> Any:
        return await self.call(
            "POST", f"/integrations/{_part(integration_id)}/send-test-event", json=dict(body)
        )


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _part(value: str) -> str:
    """One path segment: an id with a slash in it must not walk to another route."""
    return quote(value, safe="")


def _answer(response: httpx.Response, url: str) -> Any:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.is_success:
        return body
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    message = str(error.get("message") or f"the host answered {response.status_code}")
    if response.status_code in (401, 403):
        raise AuthRefused(
            f"the host at {url} refused the admin token: {message}", response.status_code, body
        )
    if response.status_code >= 500:
        raise HostUnreachable(
            f"the host at {url} failed ({response.status_code}): {message}",
            response.status_code,
            body,
        )
    details = error.get("details")
    raise ApiRefused(
        message,
        response.status_code,
        body,
        str(error.get("code") or "refused"),
        details if isinstance(details, list) else [],
    )
