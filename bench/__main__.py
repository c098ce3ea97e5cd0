"""`python -m bench`: run every benchmark, print the table, write results.json and results.png.

Every figure is a ratio of things measured side by side in the same run, so the
numbers mean something on a busy machine; absolute rates are kept in the JSON
for context. `--quick` runs the same code on a tiny corpus (the smoke test uses
it); its numbers only show that everything runs, so it writes to a temporary
directory (printed) unless `--out` says where, never over the committed results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import structlog

from . import (
    corpus,
    curve,
    delivery,
    host_e2e,
    host_memory,
    ingest,
    mapping_cost,
    mapping_rules,
    memory,
    ordering,
    report,
)
from .local import local_server, server_capacity

HERE = Path(__file__).resolve().parent


def _settings(quick: bool, memory_events: int | None) -> dict[str, Any]:
    if quick:
        return {"mapping_events": 300, "mapping_rounds": 2, "delivery_events": 1_500,
                "budget": 0.2, "rounds": 1, "backlog": 1_500, "capacity_s": 0.3,
                "memory_events": memory_events or 2_000, "curve_budget": 0.1, "curve_rounds": 1,
                "curve_events": 200, "ordering_budget": 0.2, "ordering_rounds": 1,
                "ordering_chunk": 100, "ingest_backlog": 5_000, "ingest_probes": 20,
                "ingest_rounds": 1, "e2e_events": 2_000, "e2e_rounds": 1,
                "host_backlog": 2_000}  # fmt: skip
    return {"mapping_events": 5_000, "mapping_rounds": 9, "delivery_events": 20_000,
            "budget": 2.0, "rounds": 3, "backlog": 20_000, "capacity_s": 2.0,
            "memory_events": memory_events or 1_000_000, "curve_budget": 1.0, "curve_rounds": 2,
            "curve_events": 3_000, "ordering_budget": 2.0, "ordering_rounds": 3,
            "ordering_chunk": 1_000, "ingest_backlog": 30_000, "ingest_probes": 150,
            "ingest_rounds": 3, "e2e_events": 20_000, "e2e_rounds": 3,
            "host_backlog": 100_000}  # fmt: skip


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run(
    settings: dict[str, Any], out: Path, seed: int, baseline: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Every section; `baseline` is section 2's 30 ms v2 figure from an earlier run."""
    results: dict[str, Any] = {
        "meta": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "seed": seed,
            "settings": settings,
        }
    }
    say("1. mapping cost")
    lines = corpus.lines(settings["mapping_events"], seed)
    results["mapping"] = mapping_cost.measure(lines, settings["mapping_rounds"])
    say("1b. mapping rules")
    results["mapping_rules"] = mapping_rules.measure(lines, max(2, settings["mapping_rounds"] // 3))

    # Identify and track only: what both the official client and the destination send.
    texts = corpus.lines(settings["delivery_events"], seed)
    wanted = [text for text in texts if json.loads(text)["type"] in ("identify", "track")]
    with local_server() as server:
        say("2. delivery: server capacity")
        results["delivery"] = {"server_capacity": server_capacity(server, settings["capacity_s"])}
        for latency in (0, 30):
            say(f"2. delivery: {latency} ms added")
            results["delivery"][f"{latency}ms"] = delivery.measure(
                server, wanted, latency, settings["budget"], settings["rounds"]
            )
        say("3. requests per event")
        results["requests_per_event"] = delivery.requests_per_event(
            server, wanted, settings["backlog"]
        )
        say("4. memory")
        large_count = settings["memory_events"]
        with tempfile.TemporaryDirectory(prefix="bench-events-") as folder:
            path = Path(folder, "events.jsonl")
            corpus.write_jsonl(path, large_count, seed)
            small = memory.run_child(path, server.url(0), large_count // 10)
            large = memory.run_child(path, server.url(0), large_count)
        results["memory"] = {
            "small": small,
            "large": large,
            "large_over_small": round(large["peak_rss_mb"] / small["peak_rss_mb"], 2),
        }
        say("5. cost curve")
        results["curve"] = curve.measure(
            server, settings["curve_budget"], settings["curve_rounds"], settings["curve_events"]
        )
        say("6. ordering cost")
        chunk, budget = settings["ordering_chunk"], settings["ordering_budget"]
        now = results["delivery"]["30ms"]["d_destination_v2"]["events_per_s"]
        results["ordering"] = ordering.ordering_cost(
            server, wanted, budget, settings["ordering_rounds"], chunk, now, baseline
        )
        say("6. transient failures")
        results["transient_failures"] = ordering.transient_failures(
            server, wanted, budget, settings["ordering_rounds"], chunk
        )
        say("7. ingest latency against the worker's batch size")
        results["ingest"] = ingest.measure(
            server,
            settings["ingest_backlog"],
            settings["ingest_probes"],
            settings["ingest_rounds"],
            seed,
        )
        say("8. the host end to end against the destination")
        results["host_e2e"] = host_e2e.measure(
            server, 30, settings["e2e_events"], settings["e2e_rounds"]
        )
        say("9. the host's memory while it drains a backlog")
        results["host_memory"] = host_memory.measure(server, settings["host_backlog"], seed)
    curve.plot(results["curve"], str(out / "results.png"))
    results["targets"] = report.targets(results)
    return results


def output_dir(given: Path | None, quick: bool) -> Path:
    """Where a run writes: `--out`, else bench/ for a full run (the committed figures),
    else a temporary directory: a quick run's numbers mean nothing and must never
    replace the committed ones."""
    if given is None:
        return Path(tempfile.mkdtemp(prefix="signal-bench-quick-")) if quick else HERE
    given.mkdir(parents=True, exist_ok=True)
    return given


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny corpus: checks it runs")
    parser.add_argument(
        "--memory-events",
        type=int,
        help="events in the large memory run (default 1,000,000; --quick: 2,000); "
        "the small run is a tenth of it",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="where results.json/png go (default: bench/ for a full run, which replaces "
        "the committed results; a fresh temporary directory for --quick)",
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    # The bench plays the host: the destination's log lines are rendered and dropped.
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    out = output_dir(args.out, args.quick)
    # Read before anything is written: the committed run is what this one is set against.
    baseline = ordering.read_baseline(HERE / "results.json")
    results = run(_settings(args.quick, args.memory_events), out, args.seed, baseline)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(report.table(results))
    say(f"results written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
