"""Per-minute figures of one integration's deliveries, for the /live chart.

Pure: the settled deliveries' (status, queued_at, updated_at) in, one bucket per
minute out. Latency is a delivered event's time from queued (ingested, or replayed)
to delivered, the same measure as /metrics' histogram.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

FAILED = "dead_lettered"


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _percentile(sorted_ms: list[float], share: float) -> float:
    """Nearest-rank percentile of a sorted, non-empty list."""
    rank = max(1, math.ceil(share * len(sorted_ms)))
    return sorted_ms[rank - 1]


def per_minute(
    settled: Iterable[tuple[str, float, float]], now: float, minutes: int
) -> dict[str, Any]:
    """Buckets for the `minutes` minutes up to and including the current one, oldest first:
    delivered, failed (dead-lettered) and filtered counts, and delivered latency in ms."""
    end = (math.floor(now / 60) + 1) * 60
    start = end - minutes * 60
    counts = [{"delivered": 0, "failed": 0, "filtered": 0} for _ in range(minutes)]
    waits: list[list[float]] = [[] for _ in range(minutes)]
    for status, queued_at, updated_at in settled:
        if not start <= updated_at < end:
            continue
        index = int((updated_at - start) // 60)
        if status == "delivered":
            counts[index]["delivered"] += 1
            waits[index].append(max(0.0, updated_at - queued_at) * 1000)
        elif status == FAILED:
            counts[index]["failed"] += 1
        elif status == "filtered":
            counts[index]["filtered"] += 1
    buckets = []
    for index, (count, wait) in enumerate(zip(counts, waits, strict=True)):
        wait.sort()
        latency = (
            {
                "p50": round(_percentile(wait, 0.5), 1),
                "p95": round(_percentile(wait, 0.95), 1),
                "max": round(wait[-1], 1),
            }
            if wait
            else None
        )
        buckets.append({"at": _iso(start + index * 60), **count, "latency_ms": latency})
    totals = {key: sum(c[key] for c in counts) for key in ("delivered", "failed", "filtered")}
    return {"from": _iso(start), "to": _iso(end), "buckets": buckets, "totals": totals}
