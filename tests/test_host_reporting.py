"""Reporting webhooks into the host (SPEC 9): signed, stored once, answered at once, fanned
out to the other integrations and never back into the same Customer.io workspace."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from host_support import ADMIN, HostClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signal_dest_cio.webhooks import signature

KEY = "whsec-HOST-REPORTING-4242"


def webhook(event_id: str = "01HWEBHOOK0001", metric: str = "opened") -> bytes:
    return json.dumps(
        {
            "event_id": event_id,
            "object_type": "email",
            "metric": metric,
            "timestamp": 1_770_000_000,
            "data": {
                "customer_id": "u1",
                "identifiers": {"id": "u1"},
                "delivery_id": "dlv-1",
                "recipient": "ada@example.com",
                "subject": "Hi",
            },
        }
    ).encode()


async def post(host: HostClient, integration_id: str, body: bytes, **headers: str) -> Any:
    stamp = str(int(host.clock.now()))
    signed = {
        "X-CIO-Timestamp": stamp,
        "X-CIO-Signature": signature(KEY, stamp, body),
        "Content-Type": "application/json",
    }
    return await host.http.post(
        f"/v1/sources/customer_io/{integration_id}/reporting-webhooks",
        content=body,
        headers={**signed, **headers},
    )


@pytest.fixture
async def wired(host: HostClient) -> AsyncIterator[tuple[HostClient, dict[str, str]]]:
    source = await host.install(reporting_webhook_signing_key=KEY)
    same_workspace = await host.install()  # the same site_id: Customer.io itself
    other = await host.install(site_id="another-workspace")
    yield host, {"source": source["id"], "same": same_workspace["id"], "other": other["id"]}


async def pending(host: HostClient, integration_id: str) -> list[dict[str, Any]]:
    return await host.deliveries(integration_id)


async def test_a_signed_webhook_is_stored_once_and_fanned_out_to_others_only(
    wired: tuple[HostClient, dict[str, str]],
) -> None:
    host, ids = wired
    first = await post(host, ids["source"], webhook())
    assert first.status_code == 200 and first.json()["duplicate"] is False
    again = await post(host, ids["source"], webhook())  # Customer.io's retry of it
    assert again.status_code == 200 and again.json()["duplicate"] is True
    [delivery] = await pending(host, ids["other"])
    event = delivery["input"]
    assert event["event"] == "Email Opened" and event["userId"] == "u1"
    assert event["messageId"] == "01HWEBHOOK0001"
    assert event["context"]["source"]["integration_id"] == ids["source"]
    assert await pending(host, ids["source"]) == [] and await pending(host, ids["same"]) == []


async def test_its_event_id_never_collides_with_a_real_message_id(
    wired: tuple[HostClient, dict[str, str]],
) -> None:
    host, ids = wired
    await host.send([{"type": "track", "messageId": "01HWEBHOOK0001", "userId": "u", "event": "x"}])
    assert (await post(host, ids["source"], webhook())).json()["duplicate"] is False


@pytest.mark.parametrize(
    "headers",
    [
        {"X-CIO-Signature": "0" * 64},
        {"X-CIO-Timestamp": "1000"},
        {"X-CIO-Signature": ""},
        {"X-CIO-Timestamp": "abc"},
    ],
)
async def test_a_bad_signature_is_a_401_that_stores_nothing(
    wired: tuple[HostClient, dict[str, str]], headers: dict[str, str]
) -> None:
    host, ids = wired
    response = await post(host, ids["source"], webhook(), **headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] in (
        "invalid_signature",
        "stale_timestamp",
        "missing_signature",
        "invalid_timestamp",
    )
    assert await pending(host, ids["other"]) == []


async def test_a_signature_over_another_body_is_refused(
    wired: tuple[HostClient, dict[str, str]],
) -> None:
    host, ids = wired
    stamp = str(int(host.clock.now()))
    response = await host.http.post(
        f"/v1/sources/customer_io/{ids['source']}/reporting-webhooks",
        content=webhook("other-event"),
        headers={"X-CIO-Timestamp": stamp, "X-CIO-Signature": signature(KEY, stamp, webhook())},
    )
    assert response.status_code == 401 and await pending(host, ids["other"]) == []


async def test_an_integration_without_a_key_or_unknown_refuses(
    wired: tuple[HostClient, dict[str, str]],
) -> None:
    host, ids = wired
    assert (await post(host, ids["same"], webhook())).status_code == 401  # no key set
    assert (await post(host, "int_unknown", webhook())).status_code == 404


async def test_an_oversized_webhook_is_cut_off_while_it_streams(
    wired: tuple[HostClient, dict[str, str]],
) -> None:
    host, ids = wired
    response = await post(host, ids["source"], b"{" + b" " * (2 * 1024 * 1024) + b"}")
    assert response.status_code == 413


async def test_the_signing_key_is_masked_and_never_in_a_response(
    wired: tuple[HostClient, dict[str, str]],
) -> None:
    host, ids = wired
    shown = await host.http.get(f"/v1/admin/integrations/{ids['source']}", headers=ADMIN)
    assert shown.json()["revision"]["config"]["reporting_webhook_signing_key"] == "********"
    await post(host, ids["source"], webhook())
    for integration_id in ids.values():
        listing = await host.http.get(
            f"/v1/admin/integrations/{integration_id}/deliveries", headers=ADMIN
        )
        assert KEY not in listing.text
    assert KEY not in shown.text


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.binary(max_size=300),
    forged=st.text(alphabet="0123456789abcdef", min_size=0, max_size=64),
    skew=st.integers(min_value=-1000, max_value=1000),
)
async def test_no_invalid_signature_ever_stores_anything(
    wired: tuple[HostClient, dict[str, str]], body: bytes, forged: str, skew: int
) -> None:
    host, ids = wired
    stamp = str(int(host.clock.now()) + skew)
    if forged == signature(KEY, stamp, body) and abs(skew) <= 300:
        return
    before = host.host.store.counts(ids["other"])
    response = await host.http.post(
        f"/v1/sources/customer_io/{ids['source']}/reporting-webhooks",
        content=body,
        headers={"X-CIO-Timestamp": stamp, "X-CIO-Signature": forged},
    )
    assert response.status_code == 401
    assert host.host.store.counts(ids["other"]) == before
