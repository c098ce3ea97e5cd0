"""Live events: the deliveries API (filter, cursor pages, one delivery whole, the
per-minute timeline), send-test-event, and the /live page's shell (the page in a
browser: test_host_live_page.py)."""

from __future__ import annotations

from typing import Any

import pytest
from host_support import (
    ADMIN,
    ADMIN_TOKEN,
    APP_KEY,
    TRACK_KEY,
    FakeCustomerIo,
    HostClient,
    track,
)

from signal_dest_cio.destination import CustomerIoDestination


async def test_deliveries_filter_by_status_and_page_with_a_cursor(
    host: HostClient, target: FakeCustomerIo
) -> None:
    installed = await host.install()
    nobody = [{"type": "alias", "messageId": f"bad-{n}"} for n in range(3)]
    await host.send([track(n) for n in range(12)] + nobody)
    await host.worker.drain()
    path = f"/v1/admin/integrations/{installed['id']}/deliveries"
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = (await host.http.get(path, headers=ADMIN, params=params)).json()
        assert len(page["data"]) <= 4
        seen += [d["message_id"] for d in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 15  # every record once, newest first
    assert seen[0] == "bad-2" and seen[-1] == "msg-0"
    assert page["counts"] == {"pending": 0, "delivered": 12, "filtered": 0, "dead_lettered": 3}
    dead = (await host.http.get(path, headers=ADMIN, params={"status": "dead_lettered"})).json()
    assert {d["message_id"] for d in dead["data"]} == {"bad-0", "bad-1", "bad-2"}
    bad_cursor = await host.http.get(path, headers=ADMIN, params={"cursor": "abc"})
    assert bad_cursor.status_code == 422
    bad_status = await host.http.get(path, headers=ADMIN, params={"status": "lost"})
    assert bad_status.status_code == 422
    missing = await host.http.get("/v1/admin/integrations/int_nope/deliveries", headers=ADMIN)
    assert missing.status_code == 404


async def test_send_test_event_delivers_a_sample_and_returns_its_record(
    host: HostClient, target: FakeCustomerIo
) -> None:
    installed = await host.install()
    path = f"/v1/admin/integrations/{installed['id']}/send-test-event"
    response = await host.http.post(path, headers=ADMIN, json={"type": "identify"})
    assert response.status_code == 200
    record = response.json()
    assert record["test"] is True and record["status"] == "delivered"
    assert record["input"]["type"] == "identify"
    assert record["outcome"]["kind"] == "delivered" and record["response_status"] == 200
    [request] = record["requests"]  # the request really sent, with its status
    assert request["status"] == 200
    assert request["url"] == "https://track.customer.io/api/v2/batch"
    assert request["json"]["batch"][0]["action"] == "identify"
    assert TRACK_KEY not in response.text and APP_KEY not in response.text
    listed = await host.deliveries(installed["id"])
    assert [d["id"] for d in listed] == [record["id"]]
    custom = (await host.http.post(path, headers=ADMIN, json={"event": track(99)})).json()
    # A test event has its own id (so its own dedup id): the given one is only noted.
    assert custom["message_id"].startswith("test-") and custom["status"] == "delivered"
    assert custom["input"]["context"]["test_of_message_id"] == "msg-99"
    again = await host.http.post(path, headers=ADMIN, json={"event": track(99)})
    assert again.status_code == 200 and again.json()["message_id"] != custom["message_id"]


async def test_a_test_event_never_uses_up_the_message_id_of_real_traffic(
    host: HostClient, target: FakeCustomerIo
) -> None:
    installed = await host.install()
    path = f"/v1/admin/integrations/{installed['id']}/send-test-event"
    assert (await host.http.post(path, headers=ADMIN, json={"event": track(5)})).status_code == 200
    accepted = (await host.send([track(5)])).json()
    assert accepted["accepted"] == 1 and accepted["duplicates"] == []
    await host.worker.drain()
    real = [d for d in await host.deliveries(installed["id"]) if not d["test"]]
    assert [(d["message_id"], d["status"]) for d in real] == [("msg-5", "delivered")]
    assert target.accepted["msg-5"] == 2  # the test's event and the real one, each its own id


async def test_a_test_event_cut_short_leaves_no_pending_row(
    host: HostClient, target: FakeCustomerIo, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed = await host.install()

    async def broken(self: object, events: object) -> object:
        raise RuntimeError("the destination fell over")

    monkeypatch.setattr(CustomerIoDestination, "deliver", broken)
    path = f"/v1/admin/integrations/{installed['id']}/send-test-event"
    with pytest.raises(RuntimeError):
        await host.http.post(path, headers=ADMIN)
    [record] = await host.deliveries(installed["id"])
    assert record["test"] is True and record["status"] == "dead_lettered"
    assert record["reason"]["code"] == "test_interrupted"


async def test_a_failing_test_event_is_dead_lettered_without_pausing(
    host: HostClient, target: FakeCustomerIo
) -> None:
    installed = await host.install()
    target.track_key = "revoked"
    path = f"/v1/admin/integrations/{installed['id']}/send-test-event"
    record = (await host.http.post(path, headers=ADMIN)).json()
    assert record["status"] == "dead_lettered"
    assert record["reason"]["code"] == "invalid_credentials"
    assert record["response_status"] == 401
    assert (await host.integration(installed["id"]))["status"] == "active"


async def test_the_live_page_is_a_self_refreshing_shell_without_data(host: HostClient) -> None:
    response = await host.http.get("/live")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src 'nonce-" in response.headers["content-security-policy"]
    assert 'id="rows"' in response.text and "setTimeout(refresh" in response.text
    assert ADMIN_TOKEN not in response.text


async def test_a_test_event_json_cannot_echo_back_is_refused(host: HostClient) -> None:
    installed = await host.install()
    path = f"/v1/admin/integrations/{installed['id']}/send-test-event"
    body = b'{"event": {"type": "track", "userId": "u", "event": "e", "properties": {"x": NaN}}}'
    response = await host.http.post(
        path, headers={**ADMIN, "Content-Type": "application/json"}, content=body
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_json"
    assert await host.deliveries(installed["id"]) == []


async def test_one_delivery_is_shown_whole_with_its_history(
    host: HostClient, target: FakeCustomerIo
) -> None:
    installed = await host.install()
    target.fail("status", status=503)
    await host.send([track(1)])
    await host.worker.drain()
    host.clock.advance(3600)  # past any backoff
    await host.worker.drain()
    [listed] = await host.deliveries(installed["id"])
    path = f"/v1/admin/integrations/{installed['id']}/deliveries/{listed['id']}"
    shown = (await host.http.get(path, headers=ADMIN)).json()
    assert shown["integration_id"] == installed["id"] and shown["status"] == "delivered"
    assert shown["input"]["messageId"] == "msg-1"
    assert shown["requests"] and shown["requests"][0]["method"] == "POST"
    assert [(h["kind"], h["status"]) for h in shown["history"]] == [
        ("retry", 503),
        ("delivered", 200),
    ]
    assert TRACK_KEY not in str(shown)
    # Only under its own integration, and only a real id.
    other = await host.install(max_requests_per_second=9_000)
    elsewhere = f"/v1/admin/integrations/{other['id']}/deliveries/{listed['id']}"
    assert (await host.http.get(elsewhere, headers=ADMIN)).status_code == 404
    missing = f"/v1/admin/integrations/{installed['id']}/deliveries/999999"
    assert (await host.http.get(missing, headers=ADMIN)).status_code == 404
    zero = f"/v1/admin/integrations/{installed['id']}/deliveries/0"
    assert (await host.http.get(zero, headers=ADMIN)).status_code == 422
    assert (await host.http.get(path)).status_code == 401  # admin only, like every read


async def test_the_timeline_counts_each_minute_and_the_delivered_latency(
    host: HostClient, target: FakeCustomerIo
) -> None:
    installed = await host.install()
    await host.send([track(1), track(2), track(3), {"type": "alias", "messageId": "bad-1"}])
    host.clock.advance(1.5)
    await host.worker.drain()  # three delivered 1.5 s after they were queued, one dead
    host.clock.advance(60)
    await host.send([track(4)])
    host.clock.advance(0.25)
    await host.worker.drain()
    path = f"/v1/admin/integrations/{installed['id']}/timeline"
    chart = (await host.http.get(path, headers=ADMIN, params={"minutes": 5})).json()
    assert chart["minutes"] == 5 and len(chart["buckets"]) == 5 and chart["complete"] is True
    *empty, earlier, now = chart["buckets"]
    assert all(b["delivered"] == b["failed"] == 0 and b["latency_ms"] is None for b in empty)
    assert (earlier["delivered"], earlier["failed"]) == (3, 1)
    assert earlier["latency_ms"] == {"p50": 1500.0, "p95": 1500.0, "max": 1500.0}
    assert (now["delivered"], now["failed"], now["latency_ms"]["p50"]) == (1, 0, 250.0)
    assert chart["totals"] == {"delivered": 4, "failed": 1, "filtered": 0}
    assert now["at"].endswith(":00Z") and chart["from"] == chart["buckets"][0]["at"]
    for bad in ({"minutes": 0}, {"minutes": 181}):
        assert (await host.http.get(path, headers=ADMIN, params=bad)).status_code == 422
    missing = await host.http.get("/v1/admin/integrations/int_nope/timeline", headers=ADMIN)
    assert missing.status_code == 404


def test_per_minute_buckets_keep_to_the_window_and_rank_latencies() -> None:
    from datetime import UTC, datetime

    from signal_dest_cio.host.timeline import per_minute

    now = 1_770_000_125.0  # 2 min 5 s past a whole minute
    minute = 1_770_000_120.0
    settled = [("delivered", minute + 1 - wait / 1000, minute + 1) for wait in range(10, 110, 10)]
    settled += [
        ("dead_lettered", minute - 50, minute - 30),  # the minute before
        ("filtered", minute + 2, minute + 2),
        ("delivered", 0.0, minute - 180 - 1),  # before the window: not counted
        ("delivered", 0.0, minute + 60),  # after now's minute: not counted
    ]
    chart = per_minute(settled, now, 3)
    stamps = [datetime.fromtimestamp(minute + m * 60, UTC) for m in (-2, -1, 0)]
    assert [b["at"] for b in chart["buckets"]] == [
        t.isoformat().replace("+00:00", "Z") for t in stamps
    ]
    last = chart["buckets"][-1]
    assert (last["delivered"], last["filtered"], last["failed"]) == (10, 1, 0)
    assert last["latency_ms"] == {"p50": 50.0, "p95": 100.0, "max": 100.0}
    assert chart["buckets"][-2]["failed"] == 1 and chart["buckets"][0]["delivered"] == 0
    assert chart["totals"] == {"delivered": 10, "failed": 1, "filtered": 1}
