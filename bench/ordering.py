"""Section 6: what per-identity order costs, and what 1 % of transient failures costs.

`deliver()` keeps each identity's events in order: events that share an identifier
form a lane, a lane's events go one request after another, and when a request of a
lane fails with a retryable status the lane's later events come back `retry`
(`held`). Both parts run with 30 ms added to every response and 1,000 events per
`deliver()` call, as section 2 does.

a. *Ordering cost*: v2 throughput on the corpus (several hundred lanes per 1,000
   events, the busiest person's about 20 long: `lanes_per_call`, `longest_lane`)
   against the same events rewritten so that no two events of one call share an
   identifier (every event its own lane: nothing to keep in order). Measured
   interleaved in this run, this is the fair ratio for what keeping order costs.
   It does not show what the lanes themselves cost (each lane is scheduled on its
   own, and "distinct" has more of them), so the same events are also sent as one
   person's (one lane per call, its batches one after another): this process's CPU
   time per event, corpus over one lane, is the price of scheduling by lane.
   Section 2's figure for the same delivery is also set against the one in the
   committed `bench/results.json` (read before this run overwrites it): that
   baseline was measured in an earlier run, with earlier code and another load on
   the machine, so that ratio is indicative only.
b. *Transient failures*: v2 and v1, each against a port of its own that answers
   503 to 1 % of requests (exactly one in each 100, at a seeded position) and
   against the port that fails none, interleaved. Throughput counts delivered
   events only (a `retry` is delivered by a later call, which costs what sending it
   costs now); the events that came back `retry` are counted per call, `held` apart
   from those whose own request failed. v2 sends about 2 requests per call of 1,000
   events, so in a few seconds it meets a failure once or not at all: its ratio
   says little, the events back per failed request say what one costs.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from signal_dest_cio import CustomerIoDestination
from signal_dest_cio.lanes import lane_groups, lane_keys
from signal_dest_cio.mapping import map_event
from signal_dest_cio.operations import Mapped

from .common import destination_config, interleaved, median_ratio
from .delivery import CHUNK, WARM_UP
from .local import LocalServer

LATENCY_MS = 30


@dataclass
class Run:
    """One contender's timed run: what it handed over, what was delivered, what came back."""

    events: int
    delivered: int
    seconds: float
    cpu_seconds: float  # this process's, over the same timed part
    calls: int
    held: int  # retry, code held: behind an earlier event of the lane
    failed: int  # retry for its own request
    most_retry: int = 0  # the most events one call returned as retry
    requests: int = 0  # as the server counted them (warm-up included)
    failed_requests: int = 0  # of which answered 503


async def _deliver_for(url: str, api: str, lines: list[str], budget: float, chunk: int) -> Run:
    async with CustomerIoDestination(destination_config(url, api)) as destination:
        await destination.deliver(lines[:WARM_UP])
        run = Run(events=0, delivered=0, seconds=0.0, cpu_seconds=0.0, calls=0, held=0, failed=0)
        start, cpu = time.perf_counter(), time.process_time()
        while time.perf_counter() - start < budget:
            offset = run.events % len(lines)
            outcomes = await destination.deliver(lines[offset : offset + chunk])
            run.calls += 1
            run.events += len(outcomes)
            retry = 0
            for outcome in outcomes:
                if outcome.kind == "delivered":
                    run.delivered += 1
                elif outcome.kind != "retry":
                    raise RuntimeError(f"neither delivered nor retry: {outcome}")
                elif outcome.code == "held":
                    run.held += 1
                    retry += 1
                else:
                    run.failed += 1
                    retry += 1
            run.most_retry = max(run.most_retry, retry)
        run.seconds = time.perf_counter() - start
        run.cpu_seconds = time.process_time() - cpu
    return run


def _timed(
    server: LocalServer, url: str, api: str, lines: list[str], budget: float, chunk: int
) -> Run:
    before = server.stats()
    run = asyncio.run(_deliver_for(url, api, lines, budget, chunk))
    after = server.stats()
    run.requests = after["requests"] - before["requests"]
    run.failed_requests = after["failed"] - before["failed"]
    return run


def _rate(run: Run) -> float:
    return run.delivered / run.seconds


def _cpu_us(run: Run) -> float:
    return run.cpu_seconds / run.events * 1e6


# -- a. ordering cost --------------------------------------------------------------------


def _reidentified(
    lines: Sequence[str], person_of: Callable[[int], int], anonymous_id: str | None
) -> list[str]:
    """The same events with userIds and emails renumbered, `person_of(position)`; with
    `anonymous_id`, every anonymousId replaced by it too. Lengths stay as they were."""
    rewritten = []
    for index, line in enumerate(lines):
        event = json.loads(line)
        person = person_of(index)
        if "userId" in event:
            event["userId"] = f"usr_{900_000 + person:06d}"
        traits = event.get("traits")
        if isinstance(traits, dict) and "email" in traits:
            traits["email"] = f"someone{person}@example.com"
        if anonymous_id is not None and "anonymousId" in event:
            event["anonymousId"] = anonymous_id
        rewritten.append(json.dumps(event))
    return rewritten


def distinct_identities(lines: Sequence[str], chunk: int = CHUNK) -> list[str]:
    """No two events within any `chunk` in a row share an identifier: a lane each.

    People are numbered by position modulo `chunk`, so they come round again every
    `chunk` events and the destination's identifier caches stay as warm as on the
    corpus. anonymousIds are already one per event.
    """
    return _reidentified(lines, lambda index: index % chunk, None)


def one_identity(lines: Sequence[str]) -> list[str]:
    """Every event the same person's (one userId, one anonymousId): one lane per call."""
    return _reidentified(lines, lambda index: 1, "0b6c9a4e-4f1d-4a3e-a9c2-5d7e8f901234")


def lane_shape(lines: Sequence[str], chunk: int) -> dict[str, float]:
    """Lanes per `deliver()` call of `chunk` events, and the longest, over the first calls."""
    config = destination_config("https://127.0.0.1", "v2")
    counts, longest = [], 0
    for offset in range(0, min(len(lines), 5 * chunk), chunk):
        mapped = [map_event(line, config) for line in lines[offset : offset + chunk]]
        lanes = lane_groups([lane_keys(m) for m in mapped if isinstance(m, Mapped)])
        counts.append(len(lanes))
        longest = max(longest, *(len(lane) for lane in lanes))
    return {"lanes_per_call": round(statistics.mean(counts), 1), "longest_lane": longest}


def read_baseline(path: Path) -> dict[str, Any] | None:
    """Section 2's 30 ms v2 figure in an earlier results.json (None when there is none)."""
    try:
        earlier = json.loads(path.read_text())
        figure = earlier["delivery"]["30ms"]["d_destination_v2"]["events_per_s"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    meta = earlier.get("meta", {})
    return {
        "events_per_s": figure,
        "started": meta.get("started"),
        "settings": {key: meta.get("settings", {}).get(key) for key in ("budget", "rounds")},
    }


def ordering_cost(
    server: LocalServer,
    lines: list[str],
    budget: float,
    rounds: int,
    chunk: int,
    now_events_per_s: float,
    baseline: dict[str, Any] | None,
) -> dict[str, Any]:
    """a: the corpus against the same events with no identifier shared and with one; and
    section 2's figure against the baseline."""
    variants = {
        "corpus": lines,
        "distinct_identities": distinct_identities(lines, chunk),
        "one_identity": one_identity(lines),
    }
    url = server.url(LATENCY_MS)
    runs = interleaved(
        list(variants),
        rounds,
        lambda name: _timed(server, url, "v2", variants[name], budget, chunk),
    )
    for name, samples in runs.items():
        if any(run.delivered != run.events for run in samples):
            raise RuntimeError(f"{name}: not every event was delivered")
    rates = {name: [_rate(run) for run in samples] for name, samples in runs.items()}
    cpu = {name: [_cpu_us(run) for run in samples] for name, samples in runs.items()}
    result: dict[str, Any] = {"latency_ms": LATENCY_MS, "rounds": rounds, "budget_s": budget,
                              "events_per_call": chunk}  # fmt: skip
    for name, samples in runs.items():
        result[name] = {
            **lane_shape(variants[name], chunk),
            "events_per_s": round(statistics.median(rates[name]), 1),
            "cpu_us_per_event": round(statistics.median(cpu[name]), 1),
            "requests_per_event": round(
                sum(run.requests for run in samples) / sum(run.events + WARM_UP for run in samples),
                4,
            ),
        }
    result["corpus_over_distinct"] = median_ratio(rates["corpus"], rates["distinct_identities"])
    result["cpu_corpus_over_one_identity"] = median_ratio(cpu["corpus"], cpu["one_identity"])
    result["now_events_per_s"] = now_events_per_s  # section 2, d_destination_v2 at 30 ms
    result["baseline"] = baseline
    result["now_over_baseline"] = (
        round(now_events_per_s / baseline["events_per_s"], 2) if baseline else None
    )
    return result


# -- b. transient failures -----------------------------------------------------------------


def _failure_summary(samples: list[Run]) -> dict[str, Any]:
    calls = sum(run.calls for run in samples)
    failed_requests = sum(run.failed_requests for run in samples)
    held = sum(run.held for run in samples)
    failed = sum(run.failed for run in samples)
    return {
        "events_per_s": round(statistics.median(_rate(run) for run in samples), 1),
        "handed_over_per_s": round(statistics.median(r.events / r.seconds for r in samples), 1),
        "delivered_share": round(
            sum(run.delivered for run in samples) / sum(run.events for run in samples), 4
        ),
        "calls": calls,
        "requests": sum(run.requests for run in samples),
        "failed_requests": failed_requests,
        "held_per_call": round(held / calls, 2),
        "failed_per_call": round(failed / calls, 2),
        "retry_per_failed_request": (
            round((held + failed) / failed_requests, 1) if failed_requests else None
        ),
        "most_retry_in_a_call": max(run.most_retry for run in samples),
    }


def transient_failures(
    server: LocalServer, lines: list[str], budget: float, rounds: int, chunk: int
) -> dict[str, Any]:
    """b: v2 and v1 against a failing port each and the clean one, interleaved."""
    for index, (latency, _) in enumerate(server.failing_ports[:2]):
        if latency != LATENCY_MS:
            raise ValueError(f"failing port {index} adds {latency} ms, not {LATENCY_MS}")
    contenders = {  # name: (api, where it sends)
        "v2_0pct": ("v2", server.url(LATENCY_MS)),
        "v2_1pct": ("v2", server.failing_url(0)),
        "v1_0pct": ("v1", server.url(LATENCY_MS)),
        "v1_1pct": ("v1", server.failing_url(1)),
    }

    def run_one(name: str) -> Run:
        api, url = contenders[name]
        return _timed(server, url, api, lines, budget, chunk)

    runs = interleaved(list(contenders), rounds, run_one)
    result: dict[str, Any] = {
        "latency_ms": LATENCY_MS,
        "fail_percent": server.fail_percent,
        "rounds": rounds,
        "budget_s": budget,
        "events_per_call": chunk,
    }
    for api in ("v2", "v1"):
        clean, faulty = runs[f"{api}_0pct"], runs[f"{api}_1pct"]
        result[api] = {
            "no_failures": _failure_summary(clean),
            "with_failures": _failure_summary(faulty),
            "delivered_ratio": median_ratio(
                [_rate(run) for run in faulty], [_rate(run) for run in clean]
            ),
        }
    return result
