"""What `/metrics` reads from the store at scrape time, and the SQL both stores share.

Everything is worked out from the deliveries table, so every host process on one
database reports the same figures, whichever process delivered:

- **states** (gauges): deliveries per integration and status now, held ones apart;
- **outcomes** (counters): one row per kind of history entry. A delivery's history
  only ever grows (a replay keeps it), so counts of its entries never go down;
- **latency** (a histogram): delivered deliveries, from queued (or replayed) to
  delivered. A delivered row never changes again, so the histogram only grows.

Test deliveries are left out: they are an operator's probes, not traffic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

# Seconds from queued to delivered: a live host is well under a second, an outage is
# ridden out in minutes to hours (the retry budget is a day).
LATENCY_BUCKETS: tuple[float, ...] = (
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    900.0,
    3600.0,
    21600.0,
    86400.0,
)

STATES_SQL = (
    "SELECT integration_id, status, held_by IS NOT NULL AS held, COUNT(*) AS n"
    " FROM deliveries WHERE NOT test GROUP BY integration_id, status, held_by IS NOT NULL"
)

_WAITED = "(updated_at - queued_at)"
LATENCY_SQL = (
    f"SELECT integration_id, COUNT(*) AS n, SUM({_WAITED}) AS total, "
    + ", ".join(
        f"SUM(CASE WHEN {_WAITED} <= {bound!r} THEN 1 ELSE 0 END) AS b{index}"
        for index, bound in enumerate(LATENCY_BUCKETS)
    )
    + " FROM deliveries WHERE status = 'delivered' AND NOT test GROUP BY integration_id"
)

# History entries grouped by what they say; one query per dialect (JSON functions).
SQLITE_OUTCOMES_SQL = (
    "SELECT d.integration_id AS integration_id,"
    " json_extract(h.value, '$.kind') AS kind, json_extract(h.value, '$.code') AS code,"
    " json_extract(h.value, '$.status') AS status,"
    " json_extract(h.value, '$.reason.code') AS reason, COUNT(*) AS n"
    " FROM deliveries d, json_each(d.history) h WHERE NOT d.test"
    " GROUP BY 1, 2, 3, 4, 5"
)
POSTGRES_OUTCOMES_SQL = (
    "SELECT d.integration_id AS integration_id, h.entry->>'kind' AS kind,"
    " h.entry->>'code' AS code, h.entry->>'status' AS status,"
    " h.entry->'reason'->>'code' AS reason, COUNT(*) AS n"
    " FROM deliveries d CROSS JOIN LATERAL json_array_elements(d.history::json) AS h(entry)"
    " WHERE NOT d.test GROUP BY 1, 2, 3, 4, 5"
)


@dataclass(frozen=True, slots=True)
class StateCount:
    integration_id: str
    status: str
    held: bool
    count: int


@dataclass(frozen=True, slots=True)
class HistoryCount:
    """How many history entries of one integration say this (kind, code, status, reason)."""

    integration_id: str
    kind: str | None
    code: str | None
    status: int | None
    reason: str | None  # a dead letter's reason code
    count: int


@dataclass(frozen=True, slots=True)
class Latency:
    integration_id: str
    count: int
    total_seconds: float
    at_most: tuple[int, ...]  # deliveries within each of LATENCY_BUCKETS (cumulative)


@dataclass(frozen=True, slots=True)
class DeliveryMetrics:
    states: list[StateCount]
    history: list[HistoryCount]
    latency: list[Latency]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _status(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def read_metrics(rows: Callable[[str], Sequence[Any]], outcomes_sql: str) -> DeliveryMetrics:
    """The three reads, through a store's own `rows(sql)` (rows read by column name)."""
    states = [
        StateCount(r["integration_id"], r["status"], bool(r["held"]), int(r["n"]))
        for r in rows(STATES_SQL)
    ]
    history = [
        HistoryCount(
            r["integration_id"],
            _text(r["kind"]),
            _text(r["code"]),
            _status(r["status"]),
            _text(r["reason"]),
            int(r["n"]),
        )
        for r in rows(outcomes_sql)
    ]
    latency = [
        Latency(
            r["integration_id"],
            int(r["n"]),
            float(r["total"] or 0.0),
            tuple(int(r[f"b{i}"] or 0) for i in range(len(LATENCY_BUCKETS))),
        )
        for r in rows(LATENCY_SQL)
    ]
    return DeliveryMetrics(states, history, latency)
