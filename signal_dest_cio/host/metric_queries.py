"""What `/metrics` reads from the store at scrape time, and the SQL both stores share.

Everything is worked out from the deliveries table, so every host process on one
database reports the same figures, whichever process delivered:

- **states** (gauges): deliveries per integration and status now, held ones apart;
- **outcomes** (counters): one row per kind of history entry. A delivery's history
  only ever grows (a replay keeps it), so counts of its entries never go down;
- **latency** (a histogram): delivered deliveries, from queued (or replayed) to
  delivered. A delivered row never changes again, so the histogram only grows.

Test deliveries are left out of the counters and the histogram (an operator's probes,
not traffic); the gauges count every row as it is. `MetricsReader` keeps what rows
settled long ago said, so a scrape parses only the histories that may still change.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

FROZEN_MARGIN_SECONDS = 120.0  # settled longer ago than this: read once, kept
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

# Gauges: every row by status (test rows too: a failed test is a dead letter a replay
# resends), read off the (integration_id, status, event_seq) index; held ones apart.
STATES_SQL = (
    "SELECT integration_id, status, COUNT(*) AS n FROM deliveries GROUP BY integration_id, status"
)
HELD_SQL = (
    "SELECT integration_id, COUNT(*) AS n FROM deliveries"
    " WHERE held_by IS NOT NULL AND status = 'pending' GROUP BY integration_id"
)

# Counters read rows in one of two sets (the reader keeps the first, metrics_reader.py):
# settled in a window of time and so never to change again (delivered and filtered rows
# are never touched once settled), or still open (pending, dead letters a replay may
# take back, and rows settled since the window's end).
SETTLED = "d.status IN ('delivered', 'filtered') AND d.updated_at > ? AND d.updated_at <= ?"
OPEN = "(d.status NOT IN ('delivered', 'filtered') OR d.updated_at > ?)"

_WAITED = "(d.updated_at - d.queued_at)"
_LATENCY = (
    f"SELECT d.integration_id AS integration_id, COUNT(*) AS n, SUM({_WAITED}) AS total, "
    + ", ".join(
        f"SUM(CASE WHEN {_WAITED} <= {bound!r} THEN 1 ELSE 0 END) AS b{index}"
        for index, bound in enumerate(LATENCY_BUCKETS)
    )
    + " FROM deliveries d WHERE d.status = 'delivered' AND NOT d.test AND {rows}"
    " GROUP BY d.integration_id"
)

# History entries grouped by what they say; one query per dialect (JSON functions).
_SQLITE_HISTORY = (
    "SELECT d.integration_id AS integration_id,"
    " json_extract(h.value, '$.kind') AS kind, json_extract(h.value, '$.code') AS code,"
    " json_extract(h.value, '$.status') AS status,"
    " json_extract(h.value, '$.reason.code') AS reason, COUNT(*) AS n"
    " FROM deliveries d, json_each(d.history) h WHERE NOT d.test AND {rows}"
    " GROUP BY 1, 2, 3, 4, 5"
)
_POSTGRES_HISTORY = (
    "SELECT d.integration_id AS integration_id, h.entry->>'kind' AS kind,"
    " h.entry->>'code' AS code, h.entry->>'status' AS status,"
    " h.entry->'reason'->>'code' AS reason, COUNT(*) AS n"
    " FROM deliveries d CROSS JOIN LATERAL json_array_elements(d.history::json) AS h(entry)"
    " WHERE NOT d.test AND {rows} GROUP BY 1, 2, 3, 4, 5"
)


@dataclass(frozen=True, slots=True)
class Dialect:
    history: str
    placeholder: str  # what the driver calls a parameter

    def sql(self, template: str, rows: str) -> str:
        return template.format(rows=rows).replace("?", self.placeholder)


SQLITE = Dialect(_SQLITE_HISTORY, "?")
POSTGRES = Dialect(_POSTGRES_HISTORY, "%s")


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


Rows = Callable[[str, Sequence[Any]], Sequence[Any]]


def read_states(rows: Rows) -> list[StateCount]:
    held = {r["integration_id"]: int(r["n"]) for r in rows(HELD_SQL, ())}
    found: list[StateCount] = []
    for r in rows(STATES_SQL, ()):
        integration_id, status, count = r["integration_id"], r["status"], int(r["n"])
        waiting = held.get(integration_id, 0) if status == "pending" else 0
        found.append(StateCount(integration_id, status, False, count - waiting))
        if waiting:
            found.append(StateCount(integration_id, status, True, waiting))
    return found


def read_counts(
    rows: Rows, dialect: Dialect, *, settled: tuple[float, float] | None, open_after: float
) -> DeliveryMetrics:
    """History and latency of the rows settled within `settled` (after, upto], or (None)
    of the open rows: all but those settled up to `open_after`. No states."""
    where, params = (SETTLED, settled) if settled is not None else (OPEN, (open_after,))
    history = [
        HistoryCount(
            r["integration_id"],
            _text(r["kind"]),
            _text(r["code"]),
            _status(r["status"]),
            _text(r["reason"]),
            int(r["n"]),
        )
        for r in rows(dialect.sql(dialect.history, where), params)
    ]
    latency = [
        Latency(
            r["integration_id"],
            int(r["n"]),
            float(r["total"] or 0.0),
            tuple(int(r[f"b{i}"] or 0) for i in range(len(LATENCY_BUCKETS))),
        )
        for r in rows(dialect.sql(_LATENCY, where), params)
    ]
    return DeliveryMetrics([], history, latency)


def merged(first: DeliveryMetrics, second: DeliveryMetrics) -> DeliveryMetrics:
    """Two reads of disjoint rows as one (states: the second's)."""
    history: dict[tuple[str, str | None, str | None, int | None, str | None], int]
    history = defaultdict(int)
    for h in (*first.history, *second.history):
        history[(h.integration_id, h.kind, h.code, h.status, h.reason)] += h.count
    latency: dict[str, Latency] = {}
    for row in (*first.latency, *second.latency):
        seen = latency.get(row.integration_id)
        latency[row.integration_id] = (
            row
            if seen is None
            else Latency(
                row.integration_id,
                seen.count + row.count,
                seen.total_seconds + row.total_seconds,
                tuple(a + b for a, b in zip(seen.at_most, row.at_most, strict=True)),
            )
        )
    return DeliveryMetrics(
        second.states,
        [
            HistoryCount(i, kind, code, status, reason, n)
            for (i, kind, code, status, reason), n in history.items()
        ],
        list(latency.values()),
    )


class MetricsReader:
    """One app's reads for /metrics: rows settled more than `margin` seconds ago are
    read once and kept (they never change again), so a scrape parses the histories of
    open and recent rows only. `margin` covers a round settled at one time and saved a
    little later, and clocks of processes sharing a database that differ a little."""

    def __init__(self, store: Any, margin: float = FROZEN_MARGIN_SECONDS) -> None:
        self.store = store
        self.margin = margin
        self._frozen_upto = float("-inf")
        self._frozen = DeliveryMetrics([], [], [])
        self._lock = threading.Lock()

    def read(self, now: float) -> DeliveryMetrics:
        with self._lock:  # two scrapes at once: one moves the frozen part on
            upto = now - self.margin
            if upto > self._frozen_upto:
                settled = self.store.metric_counts(
                    settled=(self._frozen_upto, upto), open_after=upto
                )
                self._frozen = merged(self._frozen, settled)
                self._frozen_upto = upto
            frozen, upto = self._frozen, self._frozen_upto
        live = self.store.metric_counts(settled=None, open_after=upto)
        states = DeliveryMetrics(self.store.metric_states(), [], [])
        return merged(merged(frozen, live), states)
