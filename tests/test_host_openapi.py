"""Schemathesis against the host's own OpenAPI: whatever it generates, no 500 comes back.

Kept small (a few examples per operation) so it runs in seconds; the generated
`integration_id`s and catalog keys are swapped for real ones so the routes behind them are reached.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from host_support import ADMIN, CONFIG, FakeCustomerIo
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from signal_dest_cio.host import create_app
from signal_dest_cio.host.service import Host

TARGET = FakeCustomerIo()
APP = create_app(
    admin_token=ADMIN["Authorization"].split()[1],
    signing_secret="openapi-test-secret",
    transport_factory=TARGET.transport,
    run_worker=False,
)
HOST: Host = APP.state.host


def _installed_id() -> str:
    import asyncio

    installed = asyncio.run(
        HOST.install(
            "customer_io",
            name="fuzzed",
            variant=None,
            config=CONFIG,
            delivery_mode="server_side",
            verify=False,
        )
    )
    integration_id: str = installed["id"]
    return integration_id


INTEGRATION_ID = _installed_id()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_generated_request_gets_a_server_error(case: Any) -> None:
    if case.path_parameters and "integration_id" in case.path_parameters:
        case.path_parameters["integration_id"] = INTEGRATION_ID
    if case.path_parameters and "key" in case.path_parameters:
        case.path_parameters["key"] = "customer_io"
    response = case.call(headers=ADMIN)
    case.validate_response(response, checks=[not_a_server_error])
    if response.status_code >= 400:
        assert set(response.json()) == {"error"}
