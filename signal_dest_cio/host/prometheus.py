"""`GET /metrics`: the host in the Prometheus text format (prometheus-client).

Each app has a registry of its own (tests make many apps in one process). Two kinds
of series (every name is in the README, "Operating the host"):

- **ingestion** counters, kept by this process as it answers `POST /v1/events` and
  reporting webhooks (they start at 0 when it starts; several processes: `sum`);
- **deliveries**, read from the store at scrape time (`metric_queries.py`), so they
  hold whichever process delivered and survive restarts (several processes on one
  database report the same figures: `max`, or scrape one).

The route takes `Authorization: Bearer` with the admin token, or with
`SIGNAL_METRICS_TOKEN` when set: a token that can read metrics and nothing else.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from .auth import bearer_matches
from .errors import ApiError
from .metric_queries import LATENCY_BUCKETS, DeliveryMetrics, MetricsReader
from .records import Integration
from .service import Host

METRICS_TOKEN_ENV = "SIGNAL_METRICS_TOKEN"
# History entries that are one try of the destination (held/released/deleted are not).
ATTEMPT_KINDS = frozenset({"delivered", "filtered", "retry", "rejected", "config_error"})
DONE_KINDS = frozenset({"delivered", "filtered"})
# Settled without a try: an event that arrived while its integration was disabled.
NOT_SENT_CODES = frozenset({"integration_disabled"})

router = APIRouter(tags=["ops"])


class IngestCounters:
    """What this process accepted, found already stored, or refused, per source."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.ingested = Counter(
            "signal_host_events_ingested",
            "Events stored and queued for delivery.",
            ["source"],
            registry=registry,
        )
        self.duplicated = Counter(
            "signal_host_events_duplicated",
            "Events whose messageId was already stored (answered, not queued again).",
            ["source"],
            registry=registry,
        )
        self.rejected = Counter(
            "signal_host_events_rejected",
            "Events of a request that could not be accepted, by code.",
            ["source", "code"],
            registry=registry,
        )
        self.refused = Counter(
            "signal_host_ingest_requests_refused",
            "Requests refused whole (a bad or stale signature, a body over the limit, "
            "unusable JSON), by code; before or after the body was read.",
            ["source", "code"],
            registry=registry,
        )

    def accepted(self, source: str, answer: Mapping[str, Any]) -> None:
        """Count one answered request (`Host.ingest`'s answer)."""
        self.ingested.labels(source).inc(int(answer.get("accepted", 0)))
        self.duplicated.labels(source).inc(len(answer.get("duplicates", ())))
        for problem in answer.get("rejected", ()):
            self.rejected.labels(source, str(problem.get("code", "invalid"))).inc()

    def one(self, source: str, *, duplicate: bool) -> None:
        (self.duplicated if duplicate else self.ingested).labels(source).inc()

    def refused_early(self, source: str, code: str) -> None:
        """A request the guard refused before reading its body."""
        self.refused.labels(source, code).inc()

    def refusal(self, source: str, error: ApiError) -> None:
        """A refused request: its events when it named them, else the request."""
        problems = [d for d in error.details if isinstance(d, dict) and "index" in d]
        if error.code == "invalid_events" and problems:
            for problem in problems:
                self.rejected.labels(source, str(problem.get("code", "invalid"))).inc()
        else:
            self.refused.labels(source, error.code).inc()


class StoreCollector(Collector):
    """The delivery series, read from the store at each scrape."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.reader = MetricsReader(host.store)

    def collect(self) -> Iterator[Metric]:
        integrations = self.host.store.list_integrations()  # deleted ones are left out
        data = self.reader.read(self.host.now())
        yield _info(integrations)
        yield from _counters(data)
        yield from _gauges(data, integrations)
        yield _latency(data)


def _info(integrations: Iterable[Integration]) -> Metric:
    info = InfoMetricFamily(
        "signal_host_integration",
        "One series per integration: its name, destination, status and pause reason.",
        labels=["integration"],
    )
    for integration in integrations:
        status = (
            "disabled" if not integration.enabled else "paused" if integration.paused else "active"
        )
        pause_code = str((integration.paused or {}).get("code") or "")
        info.add_metric(
            [integration.id],
            {
                "name": integration.name,
                "destination": integration.destination,
                "status": status,
                "pause_code": pause_code,
            },
        )
    return info


def _counters(data: DeliveryMetrics) -> Iterator[Metric]:
    settled: dict[tuple[str, str, str], int] = defaultdict(int)
    attempts: dict[tuple[str, str, str], int] = defaultdict(int)
    statuses: dict[tuple[str, str], int] = defaultdict(int)
    for row in data.history:
        kind, code = row.kind or "", row.code or ""
        if kind in DONE_KINDS:
            settled[(row.integration_id, kind, code)] += row.count
        if row.reason is not None:
            settled[(row.integration_id, "dead_lettered", row.reason)] += row.count
        if kind in ATTEMPT_KINDS and code not in NOT_SENT_CODES:
            attempts[(row.integration_id, kind, code)] += row.count
            if row.status is not None:
                statuses[(row.integration_id, str(row.status))] += row.count
    yield _counter(
        "signal_host_deliveries",
        "Deliveries settled: delivered, filtered, or dead_lettered (code: the reason).",
        ["integration", "outcome", "code"],
        settled,
    )
    yield _counter(
        "signal_host_delivery_attempts",
        "Tries of the destination, by the outcome's kind and code.",
        ["integration", "kind", "code"],
        attempts,
    )
    yield _counter(
        "signal_host_vendor_responses",
        "HTTP statuses Customer.io answered the tries with.",
        ["integration", "status"],
        statuses,
    )


def _counter(name: str, documentation: str, labels: list[str], values: Mapping[Any, int]) -> Metric:
    family = CounterMetricFamily(name, documentation, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


def _gauges(data: DeliveryMetrics, integrations: list[Integration]) -> Iterator[Metric]:
    waiting = {i.id for i in integrations if not i.enabled or i.paused}
    live = [i.id for i in integrations]
    pending = dict.fromkeys(live, 0)
    held = dict.fromkeys(live, 0)
    dead = dict.fromkeys(live, 0)
    for row in data.states:
        if row.integration_id not in pending:
            continue  # a deleted integration's records
        if row.status == "pending":
            pending[row.integration_id] += row.count
            held[row.integration_id] += row.count if row.held else 0
        elif row.status == "dead_lettered":
            dead[row.integration_id] += row.count
    paused = {i: (n if i in waiting else 0) for i, n in pending.items()}
    for name, documentation, values in (
        ("signal_host_deliveries_pending", "Deliveries queued now (held ones included).", pending),
        (
            "signal_host_deliveries_held",
            "Pending deliveries waiting behind an earlier event of their lane.",
            held,
        ),
        (
            "signal_host_deliveries_paused",
            "Pending deliveries of an integration that is paused or disabled.",
            paused,
        ),
        ("signal_host_dead_letters", "Dead-lettered deliveries now (a replay resends).", dead),
    ):
        family = GaugeMetricFamily(name, documentation, labels=["integration"])
        for integration_id, value in values.items():
            family.add_metric([integration_id], value)
        yield family


def _latency(data: DeliveryMetrics) -> Metric:
    family = HistogramMetricFamily(
        "signal_host_delivery_latency_seconds",
        "Seconds from queued (or replayed) to delivered.",
        labels=["integration"],
    )
    for row in sorted(data.latency, key=lambda r: r.integration_id):
        buckets = [(_bound(b), n) for b, n in zip(LATENCY_BUCKETS, row.at_most, strict=True)]
        family.add_metric(
            [row.integration_id],
            [*buckets, ("+Inf", row.count)],
            sum_value=row.total_seconds,
        )
    return family


def _bound(value: float) -> str:
    return repr(float(value))


def install_metrics(app: FastAPI, host: Host) -> IngestCounters:
    """A registry for this app, its collectors, and the route."""
    registry = CollectorRegistry(auto_describe=False)
    counters = IngestCounters(registry)
    registry.register(StoreCollector(host))
    app.state.metrics_registry = registry
    app.state.ingest_counters = counters
    app.state.metrics_token = os.environ.get(METRICS_TOKEN_ENV) or None
    app.include_router(router)
    return counters


@router.get("/metrics", response_class=Response, summary="Prometheus metrics")
def metrics(request: Request) -> Response:
    """The Prometheus text format; `Authorization: Bearer` with the admin token or
    SIGNAL_METRICS_TOKEN."""
    header = request.headers.get("authorization")
    tokens = [request.app.state.admin_token, request.app.state.metrics_token]
    if not any(token and bearer_matches(header, str(token)) for token in tokens):
        raise ApiError(
            401, "unauthorized", "send Authorization: Bearer <admin token or metrics token>"
        )
    body = generate_latest(request.app.state.metrics_registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
