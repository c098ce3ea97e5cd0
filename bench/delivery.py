"""Sections 2 and 3: delivery throughput against the official client, and requests per event.

Four ways to deliver the same identify and track events to the same local server:

a. the official `customerio` client as its README shows, one call per operation;
b. the same client shared by a pool of 8 threads;
c. this destination in v1 mode (one request per operation, 64 in flight over pools of 4
   connections, whole lanes per worker);
d. this destination in v2 mode (`/api/v2/batch`, up to 500 KB per request).
e. this destination in pipelines mode (`/v1/batch` of the Data Pipelines API, 500 KB).
f. v2 as d, with two `deliver()` calls in flight: the next 1,000 events are mapped
   while the last call's batches are out (a person's later events still wait for
   the earlier call: `client.py`, overlapping calls).

Every client gets the same wall-clock budget per round and starts from the same
first event; rounds rotate the order, so load from elsewhere on the machine is
shared out. The destination is given `max_requests_per_second=10000` (the most
its config allows): the 100 req/s default would measure the pacer, not the
client. Its events go through `deliver()` 1,000 at a time, as a host draining a
queue would hand them over, as JSON text (the official client's caller decodes
the same text itself).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from customerio import CustomerIO

from signal_dest_cio import CustomerIoDestination
from signal_dest_cio.client import MAX_BATCH_BYTES
from signal_dest_cio.config import CustomerIoConfig

from .common import SITE_ID, TRACK_KEY, destination_config
from .local import LocalServer

CHUNK = 1000  # events per deliver() call
THREADS = 8
IN_FLIGHT = 2  # deliver() calls out at once, for f


# -- the official client, as its README shows ------------------------------------------


def _official_send(client: CustomerIO, line: str) -> None:
    event = json.loads(line)
    if event["type"] == "identify":
        client.identify(id=event["userId"], **event.get("traits", {}))
    elif "userId" in event:
        client.track(customer_id=event["userId"], name=event["event"], data=event.get("properties"))
    else:
        client.track_anonymous(event["anonymousId"], event["event"], data=event.get("properties"))


def _official_client(server: LocalServer, latency_ms: float) -> CustomerIO:
    return CustomerIO(SITE_ID, TRACK_KEY, host="127.0.0.1", port=server.ports[latency_ms])


Timed = tuple[int, float, int]  # events in the timed part, its seconds, events sent in all
Runner = Callable[["LocalServer", float, list[str], float], Timed]
WARM_UP = 16  # events sent before the clock starts: connections made, caches warm


def official_serial(
    server: LocalServer, latency_ms: float, lines: list[str], budget: float
) -> Timed:
    client = _official_client(server, latency_ms)
    for line in lines[:WARM_UP]:
        _official_send(client, line)
    sent, start = 0, time.perf_counter()
    while time.perf_counter() - start < budget:
        _official_send(client, lines[sent % len(lines)])
        sent += 1
    seconds = time.perf_counter() - start
    client.close()
    return sent, seconds, sent + WARM_UP


def official_threads(
    server: LocalServer, latency_ms: float, lines: list[str], budget: float
) -> Timed:
    client = _official_client(server, latency_ms)
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(lambda line: _official_send(client, line), lines[:WARM_UP]))
        sent, start = 0, time.perf_counter()
        while time.perf_counter() - start < budget:
            wave = [lines[(sent + i) % len(lines)] for i in range(THREADS * 8)]
            list(pool.map(lambda line: _official_send(client, line), wave))
            sent += len(wave)
        seconds = time.perf_counter() - start
    client.close()
    return sent, seconds, sent + WARM_UP


# -- this destination ------------------------------------------------------------------


def _delivered(outcomes: list[Any]) -> int:
    if any(outcome.kind != "delivered" for outcome in outcomes):
        raise RuntimeError(f"not delivered: {outcomes[0]}")
    return len(outcomes)


async def _deliver_for(
    config: CustomerIoConfig, lines: list[str], budget: float, chunk: int, in_flight: int = 1
) -> Timed:
    """Calls of `chunk` events, `in_flight` of them out at once, until the budget is spent;
    the clock stops when the last call has answered."""
    async with CustomerIoDestination(config) as destination:
        await destination.deliver(lines[:WARM_UP])
        sent, offset, start = 0, 0, time.perf_counter()
        out: deque[asyncio.Future[Any]] = deque()
        while time.perf_counter() - start < budget:
            out.append(asyncio.ensure_future(destination.deliver(lines[offset : offset + chunk])))
            offset = (offset + chunk) % len(lines)
            if len(out) >= in_flight:
                sent += _delivered(await out.popleft())
        while out:
            sent += _delivered(await out.popleft())
        seconds = time.perf_counter() - start
    return sent, seconds, sent + WARM_UP


def destination_runner(api: str, chunk: int = CHUNK, in_flight: int = 1) -> Runner:
    def run(server: LocalServer, latency_ms: float, lines: list[str], budget: float) -> Timed:
        config = destination_config(server.url(latency_ms), api)
        return asyncio.run(_deliver_for(config, lines, budget, chunk, in_flight))

    return run


CLIENTS: dict[str, Runner] = {
    "a_official": official_serial,
    "b_official_8_threads": official_threads,
    "c_destination_v1": destination_runner("v1"),
    "d_destination_v2": destination_runner("v2"),
    "e_destination_pipelines": destination_runner("pipelines"),
    "f_destination_v2_2_in_flight": destination_runner("v2", in_flight=IN_FLIGHT),
}


def _measure_one(
    name: str, server: LocalServer, latency_ms: float, lines: list[str], budget: float
) -> dict[str, float]:
    before = server.stats()
    start = time.perf_counter()
    events, seconds, all_events = CLIENTS[name](server, latency_ms, lines, budget)
    wall = time.perf_counter() - start
    after = server.stats()
    return {
        "events": events,
        "seconds": seconds,  # the timed part: no connection set-up, no warm-up
        "all_events": all_events,
        "requests": after["requests"] - before["requests"],  # warm-up included, as all_events
        "server_cpu_share": (after["cpu_seconds"] - before["cpu_seconds"]) / wall,
    }


def measure(
    server: LocalServer, lines: list[str], latency_ms: float, budget: float, rounds: int
) -> dict[str, Any]:
    """Events per second for each client, interleaved over rounds, and their ratios."""
    names = list(CLIENTS)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for index in range(rounds):
        order = names[index % len(names) :] + names[: index % len(names)]
        for name in order:
            runs[name].append(_measure_one(name, server, latency_ms, lines, budget))
    result: dict[str, Any] = {"latency_ms": latency_ms, "rounds": rounds, "budget_s": budget}
    rate: dict[str, list[float]] = {}
    for name, samples in runs.items():
        rate[name] = [sample["events"] / sample["seconds"] for sample in samples]
        events = sum(sample["all_events"] for sample in samples)
        requests = sum(sample["requests"] for sample in samples)
        result[name] = {
            "events_per_s": round(statistics.median(rate[name]), 1),
            "requests_per_event": round(requests / events, 4),
            "server_cpu_share": round(max(sample["server_cpu_share"] for sample in samples), 3),
        }

    def ratio(top: str, bottom: str, digits: int = 1) -> float:
        # Per-round ratios (each pair measured minutes apart at most), then the median.
        return round(
            statistics.median(t / b for t, b in zip(rate[top], rate[bottom], strict=True)), digits
        )

    result["ratios"] = {
        "d_over_a": ratio("d_destination_v2", "a_official"),
        "d_over_b": ratio("d_destination_v2", "b_official_8_threads"),
        "c_over_b": ratio("c_destination_v1", "b_official_8_threads", 2),
        "c_over_a": ratio("c_destination_v1", "a_official", 2),
        "b_over_a": ratio("b_official_8_threads", "a_official"),
        "e_over_a": ratio("e_destination_pipelines", "a_official"),
        "f_over_a": ratio("f_destination_v2_2_in_flight", "a_official"),
        "f_over_b": ratio("f_destination_v2_2_in_flight", "b_official_8_threads"),
        "f_over_d": ratio("f_destination_v2_2_in_flight", "d_destination_v2", 2),
        "e_over_d": ratio("e_destination_pipelines", "d_destination_v2", 2),
    }
    return result


# -- section 3: requests per event -------------------------------------------------------


async def _one_backlog(config: CustomerIoConfig, lines: list[str]) -> None:
    async with CustomerIoDestination(config) as destination:
        outcomes = await destination.deliver(lines)
    if any(outcome.kind != "delivered" for outcome in outcomes):
        raise RuntimeError("backlog not delivered")


def requests_per_event(server: LocalServer, lines: list[str], backlog: int) -> dict[str, Any]:
    """Events per /api/v2/batch request, and how full the batches are, when a backlog waits.

    One deliver() call with `backlog` events: every batch but the last is packed as
    far as the next event allows; the last holds what is left, so it is left out of
    the fill figure (and reported apart).
    """
    events = (lines * (backlog // len(lines) + 1))[:backlog]
    before = server.stats()
    asyncio.run(_one_backlog(destination_config(server.url(0), "v2"), events))
    after = server.stats()
    sizes = after["batch_sizes"][len(before["batch_sizes"]) :]
    requests = after["requests"] - before["requests"]
    full = sorted(sizes)[1:] if len(sizes) > 1 else sizes  # all but the smallest: the tail
    fill = statistics.mean(full) / MAX_BATCH_BYTES
    per_request = backlog / requests
    return {
        "backlog_events": backlog,
        "requests": requests,
        "events_per_request": round(per_request, 1),
        "batch_fill": round(fill, 3),
        "min_full_batch_fill": round(min(full) / MAX_BATCH_BYTES, 3),
        "tail_batch_fill": round(min(sizes) / MAX_BATCH_BYTES, 3),
        "events_per_s_at_100_requests_per_s": round(100 * per_request),
    }
