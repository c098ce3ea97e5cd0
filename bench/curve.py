"""Section 5: the cost curve, events per deliver() call against throughput.

For small (about 400 B) and large (about 7.5 KB, an order with 25 line items)
track events, with no added latency and with 30 ms, the destination (v2 mode)
delivers 1, 10, 100 and 1,000 events per `deliver()` call, one call after
another, for a fixed time per point. Points are interleaved over rounds. The
per-event cost with no latency is set against the JSON floor of the same events
(`json.loads` + `json.dumps`, measured in the same rounds), so sizes compare.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from signal_dest_cio import CustomerIoDestination

from . import corpus
from .common import destination_config
from .local import LocalServer
from .mapping_cost import floor

PER_CALL = (1, 10, 100, 1000)
SIZES = ("small", "large")
LATENCIES = (0, 30)


async def _throughput(url: str, lines: list[str], per_call: int, budget: float) -> float:
    async with CustomerIoDestination(destination_config(url, "v2")) as destination:
        await destination.deliver(lines[:per_call])  # connect and warm up outside the clock
        sent, start = 0, time.perf_counter()
        while time.perf_counter() - start < budget:
            offset = sent % len(lines)
            events = lines[offset : offset + per_call]
            outcomes = await destination.deliver(events)
            if outcomes[0].kind != "delivered":
                raise RuntimeError(f"not delivered: {outcomes[0]}")
            sent += len(events)
        return sent / (time.perf_counter() - start)


def _floor_seconds_per_event(lines: list[str]) -> float:
    start = time.perf_counter()
    floor(lines)
    return (time.perf_counter() - start) / len(lines)


def measure(server: LocalServer, budget: float, rounds: int, events: int) -> dict[str, Any]:
    corpora = {size: corpus.lines(events, seed=11, size=size) for size in SIZES}  # type: ignore[arg-type]
    points = [(size, latency, n) for size in SIZES for latency in LATENCIES for n in PER_CALL]
    rates: dict[tuple[str, int, int], list[float]] = {point: [] for point in points}
    floors: dict[str, list[float]] = {size: [] for size in SIZES}
    for index in range(rounds):
        order = points[index % len(points) :] + points[: index % len(points)]
        for size, latency, n in order:
            lines = corpora[size]
            url = server.url(latency)
            rates[size, latency, n].append(asyncio.run(_throughput(url, lines, n, budget)))
        for size in SIZES:
            floors[size].append(_floor_seconds_per_event(corpora[size]))
    result: dict[str, Any] = {"per_call": list(PER_CALL), "rounds": rounds, "budget_s": budget}
    for size in SIZES:
        floor_s = statistics.median(floors[size])
        result[size] = {
            "mean_event_bytes": round(sum(map(len, corpora[size])) / len(corpora[size])),
            "floor_us_per_event": round(floor_s * 1e6, 1),
        }
        for latency in LATENCIES:
            per_second = [statistics.median(rates[size, latency, n]) for n in PER_CALL]
            result[size][f"{latency}ms"] = {
                "events_per_s": [round(rate, 1) for rate in per_second],
                "speedup_over_1_per_call": [round(rate / per_second[0], 1) for rate in per_second],
            }
        no_latency = result[size]["0ms"]["events_per_s"]
        result[size]["cost_over_floor_0ms"] = [round(1 / rate / floor_s, 1) for rate in no_latency]
    return result


def plot(result: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7.5, 4.5), dpi=110)
    styles = {"small": "o", "large": "s"}
    colours = {"0ms": "tab:blue", "30ms": "tab:orange"}
    for size in SIZES:
        for latency, colour in colours.items():
            axes.plot(
                result["per_call"],
                result[size][latency]["events_per_s"],
                marker=styles[size],
                color=colour,
                linestyle="-" if size == "small" else "--",
                label=f"{size} events (~{result[size]['mean_event_bytes']} B), {latency} added",
            )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("events per deliver() call")
    axes.set_ylabel("events delivered per second (one core)")
    axes.set_title("signal-dest-cio v2 delivery to a local HTTPS server")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
