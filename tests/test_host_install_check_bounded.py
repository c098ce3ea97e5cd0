"""Install runs the connection check by default: a vendor that never answers, or a check
that breaks, is a warning in the answer (or a 422 with ?verify=true), never a hung or
failed install."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from host_support import ADMIN, CONFIG, running_host

import signal_dest_cio.host.service as service


async def _hang(_request: httpx.Request) -> httpx.Response:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


def _break(_request: httpx.Request) -> httpx.Response:
    raise ValueError("a transport that breaks")


@pytest.mark.parametrize(
    ("handler", "said"),
    [(_hang, "no answer within"), (_break, "the check itself failed (ValueError)")],
)
async def test_a_check_that_hangs_or_breaks_is_a_warning_then_a_422_when_asked(
    monkeypatch: pytest.MonkeyPatch, handler: object, said: str
) -> None:
    monkeypatch.setattr(service, "VERIFY_SECONDS", 0.3)
    async with running_host(lambda: httpx.MockTransport(handler)) as host:  # type: ignore[arg-type]
        installed = await host.install()
        warnings = installed["warnings"]
        assert [w["code"] for w in warnings] == ["verification_failed"]
        assert said in warnings[0]["message"]
        response = await host.http.post(
            "/v1/admin/integration-catalog/customer_io/install?verify=true&allow_duplicate=true",
            headers=ADMIN,
            json={"name": "again", "config": CONFIG},
        )
        assert response.status_code == 422, response.text
        assert said in response.text
