"""GET /metrics: the Prometheus text format, read from the store (both stores) and the
ingestion counters, behind a token, with no secret in it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from host_support import (
    ADMIN,
    ADMIN_TOKEN,
    APP_KEY,
    SIGNING_SECRET,
    TRACK_KEY,
    FakeCustomerIo,
    HostClient,
    running_host,
    track,
)
from prometheus_client.parser import text_string_to_metric_families

from signal_dest_cio.host import RetryPolicy, create_app

pytestmark = pytest.mark.usefixtures("store_backend")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
async def host(target: FakeCustomerIo) -> AsyncIterator[HostClient]:
    async with running_host(target.transport, policy=RetryPolicy(max_attempts=2)) as running:
        yield running


async def scrape(host: HostClient) -> tuple[str, Samples]:
    response = await host.http.get("/metrics", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return response.text, samples


def value(samples: Samples, metric: str, **labels: str) -> float:
    return samples.get((metric, frozenset(labels.items())), 0.0)


async def test_metrics_count_ingestion_settled_deliveries_attempts_and_statuses(
    host: HostClient, target: FakeCustomerIo
) -> None:
    installed = await host.install()
    iid = installed["id"]
    answer = await host.send([track(1), track(2), track(1), "not an event"])
    assert answer.json()["accepted"] == 2
    target.fail("status", status=503)  # the first call fails: both events retry once
    await host.worker.drain()
    text, samples = await scrape(host)
    assert value(samples, "signal_host_events_ingested_total", source="events_api") == 2
    assert value(samples, "signal_host_events_duplicated_total", source="events_api") == 1
    rejected = [k for k in samples if k[0] == "signal_host_events_rejected_total"]
    assert [samples[k] for k in rejected] == [1]
    delivered = {"integration": iid, "outcome": "delivered", "code": "ok"}
    assert value(samples, "signal_host_deliveries_total", **delivered) == 2
    attempts = "signal_host_delivery_attempts_total"
    assert value(samples, attempts, integration=iid, kind="retry", code="server_error") == 2
    assert value(samples, attempts, integration=iid, kind="delivered", code="ok") == 2
    responses = "signal_host_vendor_responses_total"
    assert value(samples, responses, integration=iid, status="503") == 2
    assert value(samples, responses, integration=iid, status="200") == 2
    assert value(samples, "signal_host_deliveries_pending", integration=iid) == 0
    latency = "signal_host_delivery_latency_seconds"
    assert value(samples, f"{latency}_count", integration=iid) == 2
    assert value(samples, f"{latency}_bucket", integration=iid, le="+Inf") == 2
    # They waited out a backoff of 0.5-1 s on the test clock: above 0.25 s, under 2.5 s.
    assert value(samples, f"{latency}_bucket", integration=iid, le="0.25") == 0
    assert value(samples, f"{latency}_bucket", integration=iid, le="2.5") == 2
    info = {
        "integration": iid,
        "name": "Customer.io",
        "destination": "customer_io",
        "status": "active",
        "pause_code": "",
    }
    assert value(samples, "signal_host_integration_info", **info) == 1
    for secret in (TRACK_KEY, APP_KEY, SIGNING_SECRET, ADMIN_TOKEN):
        assert secret not in text


async def test_gauges_show_pending_paused_and_dead_letters_and_counters_never_go_down(
    host: HostClient, target: FakeCustomerIo
) -> None:
    installed = await host.install()
    iid = installed["id"]
    nobody = {"type": "identify", "messageId": "nobody", "traits": {"plan": "pro"}}
    await host.send([nobody, track(1)])
    await host.worker.drain()
    _, samples = await scrape(host)
    assert value(samples, "signal_host_dead_letters", integration=iid) == 1
    dead = {"integration": iid, "outcome": "dead_lettered", "code": "missing_identifier"}
    assert value(samples, "signal_host_deliveries_total", **dead) == 1

    target.track_key = "rotated"  # the next events pause the integration (config_error)
    await host.send([track(2), track(3), track(4)])
    await host.worker.drain()
    replay = await host.http.post(
        f"/v1/admin/integrations/{iid}/replay", headers=ADMIN, json={"message_ids": ["nobody"]}
    )
    assert replay.json()["requeued"] == 1
    _, samples = await scrape(host)
    assert value(samples, "signal_host_deliveries_pending", integration=iid) == 4
    assert value(samples, "signal_host_deliveries_paused", integration=iid) == 4
    assert value(samples, "signal_host_dead_letters", integration=iid) == 0
    # The dead letter was replayed: the count of dead-lettered settlements stays.
    assert value(samples, "signal_host_deliveries_total", **dead) == 1
    paused = [k for k in samples if k[0] == "signal_host_integration_info"]
    assert [dict(k[1])["status"] for k in paused] == ["paused"]
    assert [dict(k[1])["pause_code"] for k in paused] == ["invalid_credentials"]
    config_errors = {"integration": iid, "kind": "config_error", "code": "invalid_credentials"}
    assert value(samples, "signal_host_delivery_attempts_total", **config_errors) >= 1
    assert value(samples, "signal_host_vendor_responses_total", integration=iid, status="401") >= 1


async def test_held_deliveries_are_a_gauge_of_their_own(
    host: HostClient, target: FakeCustomerIo
) -> None:
    installed = await host.install()
    target.fail("status", status=503)
    await host.send([track(7)])
    await host.worker.run_once()  # it waits for its retry
    await host.send([track(14)])  # the same person (user-0): it waits behind the first
    await host.worker.run_once()
    _, samples = await scrape(host)
    pending = value(samples, "signal_host_deliveries_pending", integration=installed["id"])
    held = value(samples, "signal_host_deliveries_held", integration=installed["id"])
    assert (pending, held) == (2, 1)


async def test_a_deleted_integration_leaves_the_gauges_and_keeps_its_counters(
    host: HostClient, target: FakeCustomerIo
) -> None:
    installed = await host.install()
    await host.send([track(1)])
    await host.worker.drain()
    await host.send([track(2)])
    deleted = await host.http.delete(f"/v1/admin/integrations/{installed['id']}", headers=ADMIN)
    assert deleted.status_code == 200
    _, samples = await scrape(host)
    names = {name for name, labels in samples if ("integration", installed["id"]) in labels}
    assert "signal_host_deliveries_pending" not in names
    assert "signal_host_integration_info" not in names
    dead = {"integration": installed["id"], "outcome": "dead_lettered"}
    assert value(samples, "signal_host_deliveries_total", code="integration_deleted", **dead) == 1
    delivered = {"integration": installed["id"], "outcome": "delivered", "code": "ok"}
    assert value(samples, "signal_host_deliveries_total", **delivered) == 1


async def test_metrics_need_the_admin_or_the_metrics_token(
    target: FakeCustomerIo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNAL_METRICS_TOKEN", "metrics-only-token")
    async with running_host(target.transport) as host:
        assert (await host.http.get("/metrics")).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await host.http.get("/metrics", headers=wrong)).status_code == 401
        reader = {"Authorization": "Bearer metrics-only-token"}
        assert (await host.http.get("/metrics", headers=reader)).status_code == 200
        assert (await host.http.get("/metrics", headers=ADMIN)).status_code == 200
        # It reads metrics and nothing else.
        listing = await host.http.get("/v1/admin/integrations", headers=reader)
        assert listing.status_code == 401


async def test_each_app_has_a_registry_of_its_own(target: FakeCustomerIo) -> None:
    """Two apps in one process: neither sees the other's counts, neither fails to start."""
    async with running_host(target.transport) as first, running_host(target.transport) as second:
        await first.install()
        await first.send([track(1)])
        _, one = await scrape(first)
        _, other = await scrape(second)
        assert value(one, "signal_host_events_ingested_total", source="events_api") == 1
        assert value(other, "signal_host_events_ingested_total", source="events_api") == 0


async def test_a_bad_signature_is_counted_as_a_refused_request(host: HostClient) -> None:
    body = b'{"type": "track"}'
    stamp = str(int(host.clock.now() * 1000))
    headers = {"X-Timestamp": stamp, "X-Signature": "sha256=" + "0" * 64}
    response = await host.http.post("/v1/events", content=body, headers=headers)
    assert response.status_code == 401
    _, samples = await scrape(host)
    refused = "signal_host_ingest_requests_refused_total"
    assert value(samples, refused, source="events_api", code="invalid_signature") == 1


async def test_requests_the_guard_refuses_unread_are_counted_too(host: HostClient) -> None:
    """A stale signature and a body declared over the limit are refused before the body
    is read (by the ASGI guard, not the route): /metrics counts them all the same."""
    refused = "signal_host_ingest_requests_refused_total"
    stale = str(int(host.clock.now() * 1000) - 3_600_000)
    headers = {"X-Timestamp": stale, "X-Signature": "sha256=" + "0" * 64}
    response = await host.http.post("/v1/events", content=b"[]", headers=headers)
    assert response.status_code == 401
    code = response.json()["error"]["code"]
    fresh = str(int(host.clock.now() * 1000))
    too_long = {"X-Timestamp": fresh, "X-Signature": "sha256=" + "0" * 64,
                "Content-Length": str(6 * 1024 * 1024)}  # fmt: skip
    response = await host.http.post("/v1/events", content=b"[]", headers=too_long)
    assert response.status_code == 413
    _, samples = await scrape(host)
    assert value(samples, refused, source="events_api", code=code) == 1
    assert value(samples, refused, source="events_api", code="payload_too_large") == 1


def test_the_metrics_route_is_in_the_openapi_document() -> None:
    app = create_app(admin_token=ADMIN_TOKEN, signing_secret=SIGNING_SECRET, run_worker=False)
    try:
        assert "/metrics" in app.openapi()["paths"]
    finally:
        app.state.host.store.close()


async def test_settled_rows_read_once_and_kept_give_the_same_figures(
    host: HostClient, target: FakeCustomerIo
) -> None:
    """Rows settled long enough ago are read once and kept: later scrapes, a replay of a
    dead letter and new traffic all add up as one full read would."""
    installed = await host.install()
    iid = installed["id"]
    nobody = {"type": "identify", "messageId": "nobody", "traits": {"plan": "pro"}}
    await host.send([nobody, track(1), track(2)])
    await host.worker.drain()
    _, before = await scrape(host)
    host.clock.advance(3600)  # everything settled is now past the margin: kept
    _, kept = await scrape(host)
    _, again = await scrape(host)
    counters = {k: v for k, v in before.items() if k[0].endswith(("_total", "_count", "_bucket"))}
    assert {k: kept[k] for k in counters} == counters == {k: again[k] for k in counters}
    await host.http.post(
        f"/v1/admin/integrations/{iid}/replay", headers=ADMIN, json={"message_ids": ["nobody"]}
    )
    await host.send([track(3)])
    await host.worker.drain()  # the replayed one is dead again, msg-3 delivered
    host.clock.advance(3600)
    _, after = await scrape(host)
    delivered = {"integration": iid, "outcome": "delivered", "code": "ok"}
    dead = {"integration": iid, "outcome": "dead_lettered", "code": "missing_identifier"}
    assert value(after, "signal_host_deliveries_total", **delivered) == 3
    assert value(after, "signal_host_deliveries_total", **dead) == 2  # once, then again
    assert value(after, "signal_host_delivery_latency_seconds_count", integration=iid) == 3
    assert value(after, "signal_host_dead_letters", integration=iid) == 1


async def test_metrics_read_a_database_file_through_a_connection_of_their_own(
    target: FakeCustomerIo, tmp_path: Path
) -> None:
    async with running_host(target.transport, db=str(tmp_path / "metrics.db")) as host:
        installed = await host.install()
        await host.send([track(1), track(2)])
        await host.worker.drain()
        _, samples = await scrape(host)
        delivered = {"integration": installed["id"], "outcome": "delivered", "code": "ok"}
        assert value(samples, "signal_host_deliveries_total", **delivered) == 2
        await host.send([track(3)])
        _, samples = await scrape(host)
        assert value(samples, "signal_host_deliveries_pending", integration=installed["id"]) == 1


async def test_every_series_is_named_in_the_readme(
    host: HostClient, target: FakeCustomerIo
) -> None:
    await host.install()
    await host.send([track(1), "not an event"])
    await host.worker.drain()
    response = await host.http.get("/metrics", headers=ADMIN)
    families = {
        family.name
        for family in text_string_to_metric_families(response.text)
        if not family.name.endswith("_created")  # prometheus-client's counter start times
    }
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    documented = {
        name
        for name in families
        if f"`{name}`" in readme or f"`{name}_total`" in readme or f"`{name}_info`" in readme
    }
    assert len(families) >= 13 and documented == families
