"""The delivery worker against a fake Customer.io: every outcome acted on, backoff with
full jitter honouring Retry-After, dead letters with reasons, pausing, replay, restart."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from host_support import ADMIN, TRACK_KEY, FakeCustomerIo, HostClient, running_host, track

from signal_dest_cio.host import ManualClock, RetryPolicy

# Every test here runs on both stores (SQLite, PostgreSQL).
pytestmark = pytest.mark.usefixtures("store_backend")


@pytest.fixture
def target() -> FakeCustomerIo:
    return FakeCustomerIo()


@pytest.fixture
async def host(target: FakeCustomerIo) -> AsyncIterator[HostClient]:
    async with running_host(target.transport, policy=RetryPolicy(max_attempts=5)) as running:
        yield running


def statuses(deliveries: list[dict[str, object]]) -> Counter[object]:
    return Counter(d["status"] for d in deliveries)


def test_backoff_is_equal_jitter_under_an_exponential_ceiling() -> None:
    policy = RetryPolicy(base_delay_seconds=1, max_delay_seconds=60)
    rng = random.Random(1)
    assert [policy.ceiling(n) for n in (1, 2, 3, 7, 8, 100)] == [1, 2, 4, 60, 60, 60]
    delays = [policy.delay(4, None, rng) for _ in range(2000)]
    assert min(delays) >= 4 and max(delays) <= 8  # at least half the ceiling of 8
    assert min(delays) < 4.1 and max(delays) > 7.9  # spread over the whole upper half
    assert all(policy.delay(1, 30.0, rng) == 30.0 for _ in range(50))  # Retry-After is a floor
    assert policy.exhausted(5, 0) is False and policy.exhausted(60, 0) is True
    assert policy.exhausted(1, 86_400) is True


def test_default_retries_span_the_age_budget_not_an_hour() -> None:
    """Even the shortest waits the default policy draws add up to 24 hours before the
    attempt budget runs out; and a one-hour outage uses a fraction of either budget."""
    policy = RetryPolicy()
    shortest = [policy.ceiling(n) / 2 for n in range(1, policy.max_attempts)]
    assert sum(shortest) >= policy.max_age_seconds
    longest = [policy.ceiling(n) for n in range(1, policy.max_attempts)]
    attempts_in_an_hour = next(n for n in range(1, 60) if sum(shortest[:n]) >= 3600)
    assert attempts_in_an_hour < policy.max_attempts // 3
    assert sum(longest[:12]) < policy.max_age_seconds


async def test_events_are_delivered_once_and_recorded(
    host: HostClient, target: FakeCustomerIo
) -> None:
    installed = await host.install()
    await host.send([track(n) for n in range(30)])
    await host.worker.drain()
    deliveries = await host.deliveries(installed["id"])
    assert statuses(deliveries) == {"delivered": 30}
    assert target.accepted == Counter({f"msg-{n}": 1 for n in range(30)})
    first = deliveries[-1]
    assert first["attempts"] == 1 and first["response_status"] == 200
    assert first["outcome"]["kind"] == "delivered"
    assert first["input"]["messageId"] == "msg-0"
    [request] = first["requests"]  # what the event became, without credentials
    assert request["json"]["name"] == "feature.used" and request["method"] == "POST"


async def test_a_retry_waits_at_least_retry_after_then_delivers(
    host: HostClient, target: FakeCustomerIo
) -> None:
    installed = await host.install()
    target.fail("status", status=429, retry_after="42")
    await host.send(track(1))
    start = host.clock.now()
    assert await host.worker.run_once() == 1
    [pending] = await host.deliveries(installed["id"])
    assert pending["status"] == "pending"
    assert pending["history"][0]["code"] == "rate_limited"
    assert host.host.store.list_deliveries(installed["id"])[0].next_attempt_at >= start + 42
    assert await host.worker.run_once() == 0  # not due yet
    host.clock.advance(42)
    assert await host.worker.run_once() == 1
    [done] = await host.deliveries(installed["id"])
    assert done["status"] == "delivered" and done["attempts"] == 2
    assert [h["kind"] for h in done["history"]] == ["retry", "delivered"]


async def test_retries_run_out_into_the_dead_letters_with_the_reason(
    host: HostClient, target: FakeCustomerIo
) -> None:
    installed = await host.install()
    target.fail("status", count=5, status=503)
    await host.send(track(1))
    await host.worker.drain()
    [dead] = await host.deliveries(installed["id"])
    assert dead["status"] == "dead_lettered" and dead["attempts"] == 5
    assert dead["reason"]["code"] == "retries_exhausted"
    assert "server_error" in dead["reason"]["message"]
    assert target.accepted == Counter()


async def test_a_retry_past_the_age_limit_is_dead_lettered(target: FakeCustomerIo) -> None:
    policy = RetryPolicy(max_attempts=100, max_age_seconds=60, base_delay_seconds=8)
    async with running_host(target.transport, policy=policy) as host:
        installed = await host.install()
        await host.send(track(1))
        host.clock.advance(3600)  # queued for an hour (say, paused): no age budget used
        target.fail("timeout", count=100)
        await host.worker.drain()
        [dead] = await host.deliveries(installed["id"])
        assert dead["reason"]["code"] == "retries_exhausted"
        assert dead["history"][0]["code"] == "timeout"
        # The waits were 4-8 s, 8-16 s, 16-32 s, 32-64 s: the 60 s budget of waiting for
        # retries runs out on the 4th or 5th attempt, whatever the hour before it.
        assert dead["attempts"] in (4, 5)
        assert 60 <= dead["retry_seconds"] < 60 + 64


async def test_rejected_events_are_dead_lettered_at_once(
    host: HostClient, target: FakeCustomerIo
) -> None:
    installed = await host.install()
    nobody = {"type": "identify", "messageId": "nobody", "traits": {"plan": "pro"}}
    await host.send([nobody, track(1)])
    await host.worker.drain()
    by_id = {d["message_id"]: d for d in await host.deliveries(installed["id"])}
    assert by_id["nobody"]["status"] == "dead_lettered"
    assert by_id["nobody"]["attempts"] == 1
    assert by_id["nobody"]["reason"]["code"] == "missing_identifier"
    assert by_id["msg-1"]["status"] == "delivered"


async def test_a_revoked_key_pauses_the_integration_until_a_new_revision(
    host: HostClient, target: FakeCustomerIo
) -> None:
    installed = await host.install()
    await host.send([track(n) for n in range(3)])
    target.track_key = "rotated-key"
    await host.worker.drain()  # returns: a paused integration has nothing due
    integration = await host.integration(installed["id"])
    assert integration["status"] == "paused"
    assert integration["paused"]["code"] == "invalid_credentials"
    assert statuses(await host.deliveries(installed["id"])) == {"pending": 3}
    await host.send(track(3))  # events still queue while paused
    assert await host.worker.run_once() == 0
    response = await host.http.post(
        f"/v1/admin/integrations/{installed['id']}/revisions",
        headers=ADMIN,
        json={"config": {"tracking_api_key": "rotated-key"}},
    )
    assert response.json()["status"] == "active"
    await host.worker.drain()
    deliveries = await host.deliveries(installed["id"])
    assert statuses(deliveries) == {"delivered": 4}
    assert {d["revision"] for d in deliveries} == {2}
    assert target.accepted == Counter({f"msg-{n}": 1 for n in range(4)})


async def test_resume_lifts_a_pause_once_the_cause_is_fixed(
    host: HostClient, target: FakeCustomerIo
) -> None:
    installed = await host.install()
    target.track_key = "revoked"
    await host.send(track(1))
    await host.worker.drain()
    assert (await host.integration(installed["id"]))["status"] == "paused"
    target.track_key = TRACK_KEY
    resumed = await host.http.post(
        f"/v1/admin/integrations/{installed['id']}/resume", headers=ADMIN
    )
    assert resumed.json()["status"] == "active" and resumed.json()["paused"] is None
    await host.worker.drain()
    assert statuses(await host.deliveries(installed["id"])) == {"delivered": 1}


async def test_replay_requeues_dead_letters_all_or_by_id(
    host: HostClient, target: FakeCustomerIo
) -> None:
    installed = await host.install()
    target.fail("status", count=50, status=500)
    await host.send([track(1), track(2), track(3)])
    await host.worker.drain()
    dead = await host.deliveries(installed["id"], status="dead_lettered")
    assert len(dead) == 3
    target.faults.clear()  # the outage is over
    replay = f"/v1/admin/integrations/{installed['id']}/replay"
    one = await host.http.post(replay, headers=ADMIN, json={"message_ids": ["msg-2"]})
    assert one.json()["requeued"] == 1
    await host.worker.drain()
    assert statuses(await host.deliveries(installed["id"])) == {"dead_lettered": 2, "delivered": 1}
    by_id = {d["message_id"]: d["id"] for d in dead}
    second = await host.http.post(replay, headers=ADMIN, json={"delivery_ids": [by_id["msg-1"]]})
    assert second.json()["requeued"] == 1
    assert second.json()["delivery_ids"] == [by_id["msg-1"]]
    await host.worker.drain()
    rest = await host.http.post(replay, headers=ADMIN)
    assert (rest.json()["requeued"], rest.json()["delivery_ids"]) == (1, [by_id["msg-3"]])
    await host.worker.drain()
    replayed = await host.deliveries(installed["id"])
    assert statuses(replayed) == {"delivered": 3}
    assert all(d["attempts"] == 1 for d in replayed)  # a fresh budget after the replay
    assert all(len(d["history"]) == 6 for d in replayed)  # 5 failures kept, then delivered
    assert target.accepted == Counter({"msg-1": 1, "msg-2": 1, "msg-3": 1})
    assert (await host.http.post(replay, headers=ADMIN)).json()["requeued"] == 0


async def test_a_restarted_host_resumes_pending_work(tmp_path: Path) -> None:
    target = FakeCustomerIo()
    db = str(tmp_path / "host.db")
    clock = ManualClock()
    async with running_host(target.transport, db=db, clock=clock) as host:
        installed = await host.install()
        target.fail("status", count=1, status=502)
        await host.send([track(n) for n in range(10)])
        await host.worker.run_once()  # one failed attempt, then the "crash"
    assert target.accepted == Counter()
    async with running_host(target.transport, db=db, clock=clock) as restarted:
        clock.advance(3600)
        await restarted.worker.drain()
        deliveries = await restarted.deliveries(installed["id"])
    assert statuses(deliveries) == {"delivered": 10}
    assert target.accepted == Counter({f"msg-{n}": 1 for n in range(10)})


async def test_mixed_failures_end_delivered_once_or_dead_lettered_none_lost(
    target: FakeCustomerIo,
) -> None:
    """429s, 5xx, timeouts, invalid events and a revoked key mid-stream; counts add up."""
    async with running_host(target.transport, policy=RetryPolicy(max_attempts=6)) as host:
        installed = await host.install()
        host.worker.batch_size = 7
        events = [track(n) for n in range(60)]
        events[5] = {"type": "group", "messageId": "msg-5"}  # no person: rejected
        events[40] = {"type": "bogus", "messageId": "msg-40"}
        await host.send(events[:30])
        target.fail("status", count=2, status=429, retry_after="1")
        target.fail("status", count=2, status=500)
        target.fail("timeout", count=2)
        for _ in range(4):
            await host.worker.run_once()
            host.clock.advance(30)
        target.track_key = "revoked-mid-stream"
        await host.send(events[30:])
        await host.worker.drain()
        assert (await host.integration(installed["id"]))["status"] == "paused"
        target.track_key = TRACK_KEY
        await host.http.post(f"/v1/admin/integrations/{installed['id']}/resume", headers=ADMIN)
        target.fail("status", count=3, status=503)
        await host.worker.drain()
        deliveries = await host.deliveries(installed["id"])
    by_status = statuses(deliveries)
    assert by_status == {"delivered": 58, "dead_lettered": 2}
    assert sum(by_status.values()) == len(events)
    dead = {d["message_id"]: d["reason"]["code"] for d in deliveries if d["reason"]}
    assert dead == {"msg-5": "missing_identifier", "msg-40": "unsupported_type"}
    delivered = {d["message_id"] for d in deliveries if d["status"] == "delivered"}
    assert target.accepted == Counter({message_id: 1 for message_id in delivered})


async def test_a_stored_config_the_destination_refuses_pauses_instead_of_crashing(
    host: HostClient,
) -> None:
    installed = await host.install()
    await host.send(track(1))
    broken = {**host.host.store.get_revision(installed["id"], 1).config, "region": "mars"}
    host.host.store.add_revision(installed["id"], broken, host.clock.now())
    assert await host.worker.run_once() == 0
    integration = await host.integration(installed["id"])
    assert integration["status"] == "paused"
    assert integration["paused"]["code"] == "config_unusable"
    assert statuses(await host.deliveries(installed["id"])) == {"pending": 1}


async def test_a_disabled_integration_keeps_its_queue_until_enabled(
    host: HostClient, target: FakeCustomerIo
) -> None:
    installed = await host.install()
    await host.send(track(1))
    base = f"/v1/admin/integrations/{installed['id']}"
    await host.http.post(base + "/disable", headers=ADMIN)
    await host.send(track(2))  # arrives while disabled: recorded as filtered, not queued
    await host.worker.drain()
    assert statuses(await host.deliveries(installed["id"])) == {"pending": 1, "filtered": 1}
    await host.http.post(base + "/enable", headers=ADMIN)
    await host.worker.drain()
    assert statuses(await host.deliveries(installed["id"])) == {"delivered": 1, "filtered": 1}
    assert target.accepted == Counter({"msg-1": 1})


async def test_a_delivered_event_s_requests_are_worked_out_when_shown_not_when_sent(
    host: HostClient, target: FakeCustomerIo
) -> None:
    installed = await host.install()
    await host.send([track(1)])
    await host.worker.drain()
    [stored] = host.host.store.list_deliveries(installed["id"])
    assert stored.status == "delivered" and stored.requests is None  # nothing spent on it
    [shown] = await host.deliveries(installed["id"])
    [request] = shown["requests"]
    assert request["method"] == "POST" and request["json"]["name"] == "feature.used"
    assert TRACK_KEY not in str(shown)
