"""POST /v1/events: HMAC over timestamp and body, fresh timestamps, stored before the 202,
duplicates accepted once, fan-out to every enabled integration."""

from __future__ import annotations

import json

import pytest
from host_support import ADMIN, HostClient, track
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signal_dest_cio.host import sign


async def pending_ids(host: HostClient, integration_id: str) -> list[str]:
    return [d["message_id"] for d in await host.deliveries(integration_id, status="pending")]


async def test_a_signed_event_is_stored_and_queued_before_the_202(host: HostClient) -> None:
    installed = await host.install()
    response = await host.send(track(1))
    assert response.status_code == 202
    assert response.json() == {
        "message_ids": ["msg-1"],
        "accepted": 1,
        "duplicates": [],
        "rejected": [],
    }
    assert await pending_ids(host, installed["id"]) == ["msg-1"]


async def test_batches_come_as_an_array_or_as_a_segment_batch_object(host: HostClient) -> None:
    await host.install()
    as_array = await host.send([track(1), track(2)])
    as_batch = await host.send({"batch": [track(3)]})
    assert as_array.json()["message_ids"] == ["msg-1", "msg-2"]
    assert as_batch.json()["message_ids"] == ["msg-3"]


async def test_every_enabled_integration_gets_one_delivery_per_event(host: HostClient) -> None:
    # Three integrations, each its own config (the same one twice is refused: a duplicate).
    first = await host.install()
    second, off = await host.install(timeout_seconds=9), await host.install(timeout_seconds=8)
    await host.http.post(f"/v1/admin/integrations/{off['id']}/disable", headers=ADMIN)
    await host.send([track(1), track(2)])
    assert sorted(await pending_ids(host, first["id"])) == ["msg-1", "msg-2"]
    assert sorted(await pending_ids(host, second["id"])) == ["msg-1", "msg-2"]
    assert await pending_ids(host, off["id"]) == []


async def test_duplicate_message_ids_are_accepted_once(host: HostClient) -> None:
    installed = await host.install()
    first = await host.send([track(1), track(1), track(2)])
    assert first.status_code == 202
    assert first.json()["accepted"] == 2
    assert first.json()["duplicates"] == ["msg-1"]
    again = await host.send(track(2))
    assert again.json() == {
        "message_ids": ["msg-2"],
        "accepted": 0,
        "duplicates": ["msg-2"],
        "rejected": [],
    }
    assert sorted(await pending_ids(host, installed["id"])) == ["msg-1", "msg-2"]


async def test_events_without_a_message_id_get_one_from_the_host(host: HostClient) -> None:
    installed = await host.install()
    event = track(1)
    del event["messageId"]
    [message_id] = (await host.send(event)).json()["message_ids"]
    assert message_id.startswith("host-")
    [delivery] = await host.deliveries(installed["id"])
    assert delivery["input"]["messageId"] == message_id


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda h: {**h, "X-Signature": "sha256=" + "0" * 64}, "invalid_signature"),
        (lambda h: {**h, "X-Signature": h["X-Signature"].upper()}, "invalid_signature"),
        (lambda h: {k: v for k, v in h.items() if k != "X-Signature"}, "missing_signature"),
        (lambda h: {k: v for k, v in h.items() if k != "X-Timestamp"}, "missing_signature"),
        (lambda h: {**h, "X-Timestamp": "yesterday"}, "invalid_timestamp"),
    ],
)
async def test_bad_signatures_are_refused_and_nothing_is_stored(
    host: HostClient, mutate: object, code: str
) -> None:
    installed = await host.install()
    body = json.dumps(track(1)).encode()
    stamp = int(host.clock.now() * 1000)
    headers = {
        "X-Timestamp": str(stamp),
        "X-Signature": sign("signing-secret-for-host-tests", stamp, body),
    }
    assert callable(mutate)
    response = await host.http.post("/v1/events", content=body, headers=mutate(headers))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code
    assert await host.deliveries(installed["id"]) == []


async def test_a_signature_over_another_body_is_refused(host: HostClient) -> None:
    body = json.dumps(track(1)).encode()
    stamp = int(host.clock.now() * 1000)
    headers = {
        "X-Timestamp": str(stamp),
        "X-Signature": sign("signing-secret-for-host-tests", stamp, b"{}"),
    }
    response = await host.http.post("/v1/events", content=body, headers=headers)
    assert response.json()["error"]["code"] == "invalid_signature"


@pytest.mark.parametrize("offset_ms", [-301_000, 301_000])
async def test_timestamps_over_five_minutes_away_are_stale(
    host: HostClient, offset_ms: int
) -> None:
    now_ms = int(host.clock.now() * 1000)
    response = await host.send(track(1), timestamp_ms=now_ms + offset_ms)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "stale_timestamp"
    inside = await host.send(track(1), timestamp_ms=now_ms - 299_000)
    assert inside.status_code == 202


async def test_malformed_bodies_are_400_and_bad_items_are_listed(host: HostClient) -> None:
    garbage = await host.send_raw(b"{not json")
    assert garbage.status_code == 400
    assert garbage.json()["error"]["code"] == "malformed_json"
    nan = await host.send_raw(b'{"type": "track", "x": NaN}')
    assert nan.json()["error"]["code"] == "malformed_json"
    only_bad = await host.send([1, "two"])
    assert only_bad.status_code == 400
    assert [d["index"] for d in only_bad.json()["error"]["details"]] == [0, 1]
    mixed = await host.send([track(1), [], {"messageId": {"nested": 1}}])
    assert mixed.status_code == 202
    assert mixed.json()["message_ids"] == ["msg-1"]
    assert [(r["index"], r["code"]) for r in mixed.json()["rejected"]] == [
        (1, "invalid_event"),
        (2, "invalid_message_id"),
    ]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=10,
    )
)
async def test_any_signed_json_gets_a_clear_answer_never_a_500(
    host: HostClient, body: object
) -> None:
    response = await host.send(body)
    assert response.status_code in (202, 400), response.text
    if response.status_code == 400:
        assert response.json()["error"]["code"] in ("invalid_events", "empty_batch")


async def test_the_host_stamps_received_at_on_events_that_carry_none(host: HostClient) -> None:
    installed = await host.install()
    given = track(2) | {"receivedAt": "2026-01-01T00:00:00Z"}
    await host.send([track(1), given])
    stored = {d["message_id"]: d["input"] for d in await host.deliveries(installed["id"])}
    assert stored["msg-1"]["receivedAt"].startswith("2026-02-02T")  # the host's clock
    assert stored["msg-2"]["receivedAt"] == "2026-01-01T00:00:00Z"  # kept as sent
