"""Section 1: what mapping costs per event, as a multiple of the JSON floor.

The floor is what any JSON-to-JSON transform pays at least: `json.loads` of the
canonical text and `json.dumps` of the same value. The destination parses and
encodes with orjson (`signal_dest_cio.jsoncodec`), so its own floor is reported too:
`orjson.loads` + `orjson.dumps` of the same events. The pipelines are what the
destination does before any HTTP, from the JSON text `deliver()` is handed: parse,
map, render each operation and serialize its body (v2: the batch item; v1: the
request body). All four run
over the same events, interleaved round by round in rotating order, on one core;
each round's ratio is taken and the median reported, so a burst of load from
elsewhere on the machine lands in one round instead of one side.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import orjson

from signal_dest_cio.config import CustomerIoConfig
from signal_dest_cio.mapping import map_event
from signal_dest_cio.operations import Mapped
from signal_dest_cio.render import encode_body, render_v1, render_v2

Pipeline = Callable[[list[str]], int]


def bench_config(api: str = "v2", **extra: Any) -> CustomerIoConfig:
    return CustomerIoConfig.model_validate(
        {"site_id": "bench", "tracking_api_key": "bench-track-key", "api_key": "bench-app-key",
         "region": "us", "api": api, **extra}
    )  # fmt: skip


_STDLIB = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def floor(lines: list[str]) -> int:
    """The standard library's floor: `json.loads` and a compact `json.dumps`."""
    size = 0
    for line in lines:
        size += len(_STDLIB.encode(json.loads(line)).encode())
    return size


def orjson_floor(lines: list[str]) -> int:
    """orjson's own floor (the library the destination parses and encodes with)."""
    size = 0
    for line in lines:
        size += len(orjson.dumps(orjson.loads(line)))
    return size


def pipeline(api: str) -> Pipeline:
    config = bench_config(api)

    def run_v2(lines: list[str]) -> int:
        size = 0
        for line in lines:
            mapped = map_event(line, config)  # text, as deliver() is given it
            if isinstance(mapped, Mapped):
                for op in mapped.operations:
                    size += len(encode_body(render_v2(op), op))
        return size

    def run_v1(lines: list[str]) -> int:
        size = 0
        for line in lines:
            mapped = map_event(line, config)  # text, as deliver() is given it
            if isinstance(mapped, Mapped):
                for op in mapped.operations:
                    body = render_v1(op).json
                    size += 0 if body is None else len(encode_body(body, op))
        return size

    return run_v2 if api == "v2" else run_v1


def _timed(run: Pipeline, lines: list[str]) -> float:
    gc.collect()
    start = time.perf_counter()
    run(lines)
    return time.perf_counter() - start


def interleaved(runs: dict[str, Pipeline], lines: list[str], rounds: int) -> dict[str, list[float]]:
    """Seconds per event for each run, per round; the order rotates every round."""
    names = list(runs)
    for name in names:  # warm caches and the specializing interpreter first
        runs[name](lines[:200])
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        order = names[index % len(names) :] + names[: index % len(names)]
        for name in order:
            seconds[name].append(_timed(runs[name], lines) / len(lines))
    return seconds


def ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over rounds of the per-round ratio."""
    return statistics.median(n / d for n, d in zip(numerator, denominator, strict=True))


def measure(lines: list[str], rounds: int) -> dict[str, Any]:
    seconds = interleaved(
        {"floor": floor, "orjson_floor": orjson_floor, "v2": pipeline("v2"), "v1": pipeline("v1")},
        lines,
        rounds,
    )
    return {
        "events": len(lines),
        "rounds": rounds,
        "mean_event_bytes": round(sum(map(len, lines)) / len(lines)),
        "v2_over_floor": round(ratio(seconds["v2"], seconds["floor"]), 2),
        "v1_over_floor": round(ratio(seconds["v1"], seconds["floor"]), 2),
        "v2_over_orjson_floor": round(ratio(seconds["v2"], seconds["orjson_floor"]), 2),
        "v1_over_orjson_floor": round(ratio(seconds["v1"], seconds["orjson_floor"]), 2),
        "floor_us_per_event": round(statistics.median(seconds["floor"]) * 1e6, 2),
        "orjson_floor_us_per_event": round(statistics.median(seconds["orjson_floor"]) * 1e6, 2),
        "v2_us_per_event": round(statistics.median(seconds["v2"]) * 1e6, 2),
        "v1_us_per_event": round(statistics.median(seconds["v1"]) * 1e6, 2),
    }
