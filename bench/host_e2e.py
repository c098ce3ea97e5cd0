"""Section 8: the host end to end against the destination alone, same events, same server.

Both deliver the same corpus events (identify and track, ~1.4 KB) to the bench
server's port with the same added latency:

- **destination**: `deliver()` in v2 mode, 1,000 events per call, as in section 2;
- **host**: a reference host (`create_app` on a temporary SQLite file, served by
  uvicorn on loopback from a thread of this process, its delivery worker in a process
  of its own, as `signal-cio serve` runs it) with one Customer.io v2 integration;
  a client in a process of its own posts the events signed, 100 per request, one
  request after the other, and the clock runs from the first request until every
  delivery is `delivered` (ingest -> store -> deliver -> answered). The client reads
  `time.monotonic()` (one clock for every process on the machine) as it sends its first
  request and reports it: its own start-up (~1.3 s of imports) is outside the clock.

Each side first delivers 100 other events, outside the clock: the destination is
connected and the host's worker process is up, as a running `serve`'s is when traffic
comes (its start-up, ~1-2 s of imports on a loaded machine, was inside the clock before).

Rounds alternate the two. The ratio is host events/s over destination events/s (the
goal: >= 0.6), and the ingestion latency of the posting client's requests under that
load is reported (p50, p99).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from signal_dest_cio import CustomerIoDestination

from . import corpus
from .common import APP_KEY, REPO, SITE_ID, TRACK_KEY, destination_config, interleaved
from .ingest import ADMIN_TOKEN, percentile, served_host
from .local import LocalServer

EVENTS_PER_REQUEST = 100
WORKER_BATCH = 1000
CHUNK = 1000
DEADLINE_SECONDS = 600
WARM_UP = 100  # events each side delivers before its clock starts


async def _destination_seconds(
    url: str, events: list[dict[str, Any]], warm_up: list[dict[str, Any]]
) -> float:
    destination = CustomerIoDestination(destination_config(url, "v2"))
    await destination.deliver(warm_up)  # connected and warm before the clock, as the host
    start = time.perf_counter()
    for begin in range(0, len(events), CHUNK):
        outcomes = await destination.deliver(events[begin : begin + CHUNK])
        if any(o.kind != "delivered" for o in outcomes):
            raise RuntimeError("the destination failed to deliver the corpus")
    seconds = time.perf_counter() - start
    await destination.aclose()
    return seconds


def destination_run(
    url: str, events: list[dict[str, Any]], warm_up: list[dict[str, Any]]
) -> dict[str, Any]:
    seconds = asyncio.run(_destination_seconds(url, events, warm_up))
    return {"events_per_s": len(events) / seconds}


def host_run(
    url: str, events: list[dict[str, Any]], warm_up: list[dict[str, Any]]
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as folder:
        db = str(Path(folder, "host.db"))
        with served_host(db, WORKER_BATCH, Fernet.generate_key().decode()) as (base, host):
            config = {"site_id": SITE_ID, "tracking_api_key": TRACK_KEY, "api_key": APP_KEY,
                      "region": "us", "track_api_base_url": url,
                      "max_requests_per_second": 10_000}  # fmt: skip
            response = httpx.post(
                f"{base}/v1/admin/integration-catalog/customer_io/install",
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                params={"verify": "false"},  # the bench server answers deliveries only
                json={"name": "Customer.io", "config": config},
                timeout=30,
            )
            response.raise_for_status()
            integration_id = response.json()["id"]
            host.worker.start()
            # The worker is up and has delivered before the clock starts, as `serve`'s is
            # when traffic comes: its process start-up (~1-2 s of imports and a first
            # connection on a loaded machine) is not the throughput of a running host.
            host.ingest(json.dumps(warm_up).encode(), "bench-warm-up")
            _wait_delivered(host, integration_id, len(warm_up))
            path = Path(folder, "events.json")
            path.write_text(json.dumps(events))
            start, latencies = _post_all(base, path)
            _wait_delivered(host, integration_id, len(warm_up) + len(events))
            seconds = time.monotonic() - start
    return {"events_per_s": len(events) / seconds, "latencies_ms": latencies}


def _wait_delivered(host: Any, integration_id: str, count: int) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while host.store.counts(integration_id)["delivered"] < count:
        if time.monotonic() > deadline:
            raise RuntimeError("the host did not deliver the corpus in time")
        time.sleep(0.01)


def _post_all(base: str, path: Path) -> tuple[float, list[float]]:
    """The posting client, in a process of its own (`python -m bench.host_e2e`): when
    (`time.monotonic()`) it sent its first request, and each request's latency."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.host_e2e", base, str(path)],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return float(report["first_request_at"]), [float(ms) for ms in report["latencies_ms"]]


def measure(server: LocalServer, latency_ms: float, count: int, rounds: int) -> dict[str, Any]:
    events = [
        event for event in corpus.events(count * 2, 11) if event["type"] in ("identify", "track")
    ][:count]
    warm_up = [  # other messageIds (another seed): stored and delivered as events of their own
        event for event in corpus.events(WARM_UP * 2, 12) if event["type"] in ("identify", "track")
    ][:WARM_UP]
    url = server.url(latency_ms)
    runs = interleaved(
        ["destination", "host"],
        rounds,
        lambda name: (destination_run if name == "destination" else host_run)(url, events, warm_up),
    )
    destination = statistics.median(r["events_per_s"] for r in runs["destination"])
    host = statistics.median(r["events_per_s"] for r in runs["host"])
    latencies = [value for run in runs["host"] for value in run["latencies_ms"]]
    return {
        "latency_ms": latency_ms,
        "events": len(events),
        "events_per_request": EVENTS_PER_REQUEST,
        "worker_batch_size": WORKER_BATCH,
        "rounds": rounds,
        "destination_events_per_s": round(destination, 1),
        "host_events_per_s": round(host, 1),
        "host_over_destination": round(host / destination, 2),
        "ingest_p50_ms": round(statistics.median(latencies), 2),
        "ingest_p99_ms": round(percentile(latencies, 0.99), 2),
    }


# -- the posting client ------------------------------------------------------------------


def post_main(base: str, path: str) -> dict[str, Any]:
    from signal_dest_cio.host import sign

    from .ingest import SIGNING_SECRET

    events = json.loads(Path(path).read_text())
    # The bodies are written before the clock: encoding them in the loop (~0.4 s of CPU
    # for the corpus) took that CPU from the host under test, on a 2-core machine.
    bodies = [
        json.dumps(events[begin : begin + EVENTS_PER_REQUEST]).encode()
        for begin in range(0, len(events), EVENTS_PER_REQUEST)
    ]
    latencies = []
    with httpx.Client(base_url=base, timeout=60) as client:
        first_request_at = time.monotonic()
        for body in bodies:
            stamp = int(time.time() * 1000)
            headers = {"Content-Type": "application/json", "X-Timestamp": str(stamp),
                       "X-Signature": sign(SIGNING_SECRET, stamp, body)}  # fmt: skip
            start = time.perf_counter()
            response = client.post("/v1/events", content=body, headers=headers)
            latencies.append((time.perf_counter() - start) * 1000)
            if response.status_code != 202:
                raise RuntimeError(f"ingestion answered {response.status_code}")
    return {"first_request_at": first_request_at, "latencies_ms": latencies}


if __name__ == "__main__":
    print(json.dumps(post_main(sys.argv[1], sys.argv[2])))
