"""Emulator: faults on the App API, and the destination's App API client against it (a
send whose fate is unknown is never repeated)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from emulator_support import EU, US, app_for, new_state
from test_emulator_app_api import RECEIPT, add_fault, app_client, known_person

from signal_dest_cio.app_api import AppClient, TransactionalEmail
from signal_dest_cio.config import CustomerIoConfig
from signal_dest_cio.emulator import EmulatorState


async def test_a_status_fault_on_v1_answers_the_send_and_records_nothing() -> None:
    state = new_state()
    async with app_client(state) as client:
        await add_fault(client, kind="status", status=429, path_prefix="/v1/", retry_after="1")
        refused = await client.post("/v1/send/email", json=RECEIPT)
        accepted = await client.post("/v1/send/email", json=RECEIPT)
    assert (refused.status_code, refused.headers["retry-after"]) == (429, "1")
    assert accepted.status_code == 200
    assert len(state.sends_view(US.site_id)) == 1
    assert [r["fault"] for r in state.request_log()] == ["status", None]


async def test_a_fault_on_the_send_path_spares_the_attributes_read() -> None:
    state = new_state()
    await known_person(state)
    async with app_client(state) as client:
        await add_fault(client, kind="status", status=503, path="/v1/send/email")
        assert (await client.get("/v1/customers/u1/attributes")).status_code == 200
        assert (await client.post("/v1/send/email", json=RECEIPT)).status_code == 503


async def test_a_fault_can_target_one_workspace_by_its_app_key() -> None:
    state = new_state()
    async with app_client(state) as us, app_client(state, "eu", EU.app_api_key) as eu:
        await add_fault(us, kind="status", status=500, path_prefix="/v1/", workspace=EU.site_id)
        assert (await us.post("/v1/send/email", json=RECEIPT)).status_code == 200
        assert (await eu.post("/v1/send/email", json=RECEIPT)).status_code == 500
    assert [r["fault"] for r in state.request_log()] == [None, "status"]
    assert state.sends_view(US.site_id) != [] and state.sends_view(EU.site_id) == []


async def test_a_dropped_send_raises_a_transport_error_and_is_not_recorded() -> None:
    state = new_state()
    async with app_client(state) as client:
        await add_fault(client, kind="drop", path_prefix="/v1/send/")
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post("/v1/send/email", json=RECEIPT)
    assert state.sends_view(US.site_id) == []


async def test_a_slow_send_is_queued_though_the_caller_times_out() -> None:
    state = new_state()
    async with app_client(state) as client:
        await add_fault(client, kind="slow", seconds=5, path_prefix="/v1/")
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/v1/send/email", json=RECEIPT)
    assert len(state.sends_view(US.site_id)) == 1  # it went out: why it must not be resent


# -- the destination's App API client against the emulator ------------------------------


def destination_client(state: EmulatorState) -> AppClient:
    config = CustomerIoConfig.model_validate(
        {
            "site_id": US.site_id,
            "tracking_api_key": US.track_api_key,
            "api_key": US.app_api_key,
            "region": "us",
            "app_api_base_url": "http://127.0.0.1:8010",
        }
    )
    return AppClient(config, transport=httpx.ASGITransport(app=app_for(state)))


async def test_the_destination_reads_attributes_and_sends_through_the_emulator() -> None:
    state = new_state()
    await known_person(state)
    client = destination_client(state)
    try:
        read = await client.customer_attributes("ada@example.com", "email")
        sent = await client.send_email(TransactionalEmail.model_validate(RECEIPT))
        missing = await client.customer_attributes("nobody")
    finally:
        await client.aclose()
    assert read.outcome.kind == "delivered"
    assert read.body is not None and read.body["customer"]["id"] == "u1"
    assert sent.outcome.kind == "delivered" and sent.body is not None
    assert sent.body["delivery_id"] == state.sends_view(US.site_id)[0]["delivery_id"]
    assert (missing.outcome.kind, missing.outcome.code) == ("rejected", "not_found")


@pytest.mark.parametrize(
    ("fault", "kind", "code", "recorded"),
    [
        ({"kind": "slow", "seconds": 5}, "rejected", "outcome_unknown", 1),
        ({"kind": "drop"}, "rejected", "outcome_unknown", 0),
        ({"kind": "status", "status": 429}, "retry", None, 0),
    ],
)
async def test_the_destination_never_repeats_a_send_whose_fate_is_unknown(
    fault: dict[str, Any], kind: str, code: str | None, recorded: int
) -> None:
    state = new_state()
    async with app_client(state) as inspect:
        await add_fault(inspect, path_prefix="/v1/send/", **fault)
    client = destination_client(state)
    try:
        result = await client.send_email(TransactionalEmail.model_validate(RECEIPT))
    finally:
        await client.aclose()
    assert result.outcome.kind == kind
    assert code is None or result.outcome.code == code
    assert len(state.sends_view(US.site_id)) == recorded
    assert len([r for r in state.request_log() if r["path"] == "/v1/send/email"]) == 1
