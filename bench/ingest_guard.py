"""Ingestion throughput with and without the streaming checks (issue 9), side by side.

`python -m bench.ingest_guard [--quick]`: the reference host's app (`create_app`, an
in-memory store, no worker) is driven in process through `httpx.ASGITransport` with
signed `POST /v1/events`, single events and batches of 1,000, twice over: as it is,
and with `RequestGuard` (the raw ASGI layer that checks tokens and signature headers
before a body is read and caps bodies as they stream) taken out of its middleware.
Rounds interleave the two; the figure is the median of the per-round ratios
(guarded / unguarded events per second). Goal: >= 0.9 for both shapes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

import httpx

from signal_dest_cio.host import ManualClock, create_app, sign
from signal_dest_cio.host.guard import RequestGuard

SECRET = "bench-signing-secret"


def app(guarded: bool) -> Any:
    made = create_app(
        admin_token="bench-admin", signing_secret=SECRET, run_worker=False, clock=ManualClock()
    )
    if not guarded:
        made.user_middleware = [m for m in made.user_middleware if m.cls is not RequestGuard]
    return made


def bodies(count: int, per_request: int, tag: str) -> list[bytes]:
    events = [
        {
            "type": "track",
            "messageId": f"{tag}-{n}",
            "userId": f"u{n % 50}",
            "event": "feature.used",
            "properties": {"n": n, "area": "reports"},
        }
        for n in range(count)
    ]
    return [json.dumps(events[i : i + per_request]).encode() for i in range(0, count, per_request)]


async def rate(guarded: bool, per_request: int, count: int, tag: str) -> float:
    host = app(guarded)
    clock = ManualClock()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=host), base_url="http://host.bench"
    ) as client:
        prepared = []
        for body in bodies(count, per_request, tag):
            stamp = int(clock.now() * 1000)
            prepared.append(
                (
                    body,
                    {
                        "X-Timestamp": str(stamp),
                        "X-Signature": sign(SECRET, stamp, body),
                        "Content-Type": "application/json",
                    },
                )
            )
        started = time.perf_counter()
        for body, headers in prepared:
            response = await client.post("/v1/events", content=body, headers=headers)
            assert response.status_code == 202, response.text
        seconds = time.perf_counter() - started
    host.state.host.store.close()
    return count / seconds


def measure(rounds: int, single: int, batched: int) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for shape, per_request, count in (("single", 1, single), ("batched", 1000, batched)):
        ratios, rates = [], {True: [], False: []}
        for index in range(rounds):
            order = (True, False) if index % 2 == 0 else (False, True)
            measured = {
                g: asyncio.run(rate(g, per_request, count, f"{shape}{index}{g}")) for g in order
            }
            for guarded, value in measured.items():
                rates[guarded].append(value)
            ratios.append(measured[True] / measured[False])
        result[shape] = {
            "guarded_events_per_s": round(statistics.median(rates[True]), 1),
            "unguarded_events_per_s": round(statistics.median(rates[False]), 1),
            "guarded_over_unguarded": round(statistics.median(ratios), 3),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_guard")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    figures = measure(*((2, 50, 1000) if args.quick else (7, 600, 20_000)))
    for shape, row in figures.items():
        print(
            f"{shape:8} guarded {row['guarded_events_per_s']:>9} ev/s  unguarded "
            f"{row['unguarded_events_per_s']:>9} ev/s  ratio {row['guarded_over_unguarded']}"
            f" (goal >= 0.9)"
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
