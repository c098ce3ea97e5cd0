"""Section 7: ingestion latency while the worker delivers a backlog, against its batch size.

The host's delivery worker runs on a thread and event loop of its own, so how long
`POST /v1/events` takes should not depend on how much the worker sends at a time.

Once: a reference host (`create_app` on a temporary SQLite file, served by uvicorn
on 127.0.0.1 from a thread of this process, as `signal-cio serve` serves it but
with the access log off) gets one Customer.io integration through the admin API,
pointed at the bench server's 0 ms port with `max_requests_per_second: 10000`, and
a backlog of corpus events is stored (straight into the store: it is the queue the
worker finds, not what is measured). The host stops and its file is the template.

Then for each worker `batch_size` (10, 100, 1,000), in rotating order over rounds:
a copy of the template is served the same way, its worker started; once it has
delivered its first batch, a client in a process of its own sends signed
`POST /v1/events` of 10 events, one after the other with a short pause, and times
each from request to response.

With no added latency the worker is never idle, whatever its batch size: the worst
case for ingestion. p50 and p99 are taken over every probe of a batch size, pooled
over the interleaved rounds (a p99 of one round's probes would be its one or two
slowest). The worker's delivered rate while the probes ran is reported too, and
whether the backlog lasted (if it ran out, part of the probing saw an idle worker).

`python -m bench.ingest URL SECRET COUNT PAUSE_MS PREFIX` is the probing client: it
says `ready` once imported and connected, probes when it reads a line, and prints
its latencies as one JSON line.
"""

from __future__ import annotations

import http.client
import itertools
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from cryptography.fernet import Fernet

from signal_dest_cio.host import create_app, sign

from . import corpus
from .common import APP_KEY, REPO, SITE_ID, TRACK_KEY, interleaved
from .local import LocalServer

BATCH_SIZES = (10, 100, 1000)
EVENTS_PER_PROBE = 10
PAUSE_MS = 5.0
ADMIN_TOKEN = "bench-admin-token"
SIGNING_SECRET = "bench-signing-secret"


@contextmanager
def served_host(db: str, batch_size: int, secret_key: str) -> Iterator[tuple[str, Any]]:
    """The host under uvicorn on a free loopback port; yields its URL and its `Host`."""
    app = create_app(
        db=db,
        admin_token=ADMIN_TOKEN,
        signing_secret=SIGNING_SECRET,
        secret_key=secret_key,
        batch_size=batch_size,
        run_worker=False,  # started once the backlog is in
        worker_process=True,  # as `signal-cio serve` runs it
    )
    # IPPROTO_TCP given, not left 0: asyncio sets TCP_NODELAY only on sockets that say
    # they are TCP, and without it every response waits 40 ms for a delayed ACK.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the host did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", app.state.host
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        app.state.host.store.close()
        listener.close()


@dataclass
class Template:
    """A host database with the integration installed and the backlog queued, to copy."""

    path: Path
    secret_key: str
    integration_id: str


def make_template(folder: Path, track_url: str, backlog_events: int, seed: int) -> Template:
    """Install the integration through the admin API and store the backlog, once."""
    template = Template(folder / "template.db", Fernet.generate_key().decode(), "")
    with served_host(str(template.path), BATCH_SIZES[0], template.secret_key) as (url, host):
        config = {"site_id": SITE_ID, "tracking_api_key": TRACK_KEY, "api_key": APP_KEY,
                  "region": "us", "track_api_base_url": track_url,
                  "max_requests_per_second": 10_000}  # fmt: skip
        response = httpx.post(
            f"{url}/v1/admin/integration-catalog/customer_io/install",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            params={"verify": "false"},  # the bench server answers deliveries, not checks
            json={"name": "Customer.io", "config": config},
            timeout=30,
        )
        response.raise_for_status()
        template.integration_id = response.json()["id"]
        events = corpus.events(backlog_events, seed)
        while chunk := [(event["messageId"], event) for event in itertools.islice(events, 1000)]:
            host.store.ingest(chunk, host.now())
    wal = template.path.with_name(template.path.name + "-wal")
    if wal.exists() and wal.stat().st_size:  # closing the store should have folded it in
        raise RuntimeError("the template database left a write-ahead log behind")
    return template


def _counts(host: Any, integration_id: str) -> dict[str, int]:
    counts: dict[str, int] = host.store.counts(integration_id)
    return counts


@contextmanager
def probing_client(url: str, count: int, prefix: str) -> Iterator[Callable[[], list[float]]]:
    """The probing client's process, started (and its imports done) ahead of the clock;
    yields what starts it and returns its latencies in ms."""
    command = [sys.executable, "-m", "bench.ingest", url, SIGNING_SECRET, str(count),
               str(PAUSE_MS), prefix]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdin is not None and process.stdout is not None
    stdin, stdout = process.stdin, process.stdout

    def go() -> list[float]:
        stdin.write("go\n")
        stdin.flush()
        latencies: list[float] = json.loads(stdout.readline())
        return latencies

    try:
        if stdout.readline().strip() != "ready":
            raise RuntimeError("the probing client did not start")
        yield go
    finally:
        stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def one_run(template: Template, batch_size: int, probes: int, tag: str) -> dict[str, Any]:
    """A copy of the template served with this batch size; probes while the worker works."""
    with tempfile.TemporaryDirectory(prefix="bench-host-") as folder:
        db = Path(folder, "host.db")
        shutil.copyfile(template.path, db)
        with (
            served_host(str(db), batch_size, template.secret_key) as (url, host),
            probing_client(url, probes, tag) as probe,
        ):
            host.worker.start()
            deadline = time.monotonic() + 30
            while _counts(host, template.integration_id)["delivered"] == 0:
                if time.monotonic() > deadline:
                    raise RuntimeError("the worker delivered nothing")
                time.sleep(0.005)
            before, start = _counts(host, template.integration_id), time.perf_counter()
            latencies = probe()
            seconds = time.perf_counter() - start
            after = _counts(host, template.integration_id)
    return {
        "latencies_ms": latencies,
        "worker_events_per_s": (after["delivered"] - before["delivered"]) / seconds,
        "backlog_left": after["pending"],
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure(
    server: LocalServer, backlog_events: int, probes: int, rounds: int, seed: int
) -> dict[str, Any]:
    names = [str(size) for size in BATCH_SIZES]
    tags = itertools.count()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as folder:
        template = make_template(Path(folder), server.url(0), backlog_events, seed)
        runs = interleaved(
            names,
            rounds,
            lambda name: one_run(template, int(name), probes, f"probe-{next(tags)}"),
        )
    result: dict[str, Any] = {
        "events_per_request": EVENTS_PER_PROBE,
        "probes_per_round": probes,
        "rounds": rounds,
        "backlog_events": backlog_events,
        "pause_ms": PAUSE_MS,
    }
    for name, samples in runs.items():
        latencies = [value for run in samples for value in run["latencies_ms"]]
        result[f"batch_{name}"] = {
            "p50_ms": round(statistics.median(latencies), 2),
            "p99_ms": round(percentile(latencies, 0.99), 2),
            "max_ms": round(max(latencies), 2),
            "probes": len(latencies),
            "worker_events_per_s": round(
                statistics.median(run["worker_events_per_s"] for run in samples), 1
            ),
            "backlog_lasted": all(run["backlog_left"] > 0 for run in samples),
        }
    small, large = result[f"batch_{BATCH_SIZES[0]}"], result[f"batch_{BATCH_SIZES[-1]}"]
    result["p99_large_over_small"] = round(large["p99_ms"] / small["p99_ms"], 2)
    result["p50_large_over_small"] = round(large["p50_ms"] / small["p50_ms"], 2)
    return result


# -- the probing client, in a process of its own ---------------------------------------------


def _probe_bodies(count: int, prefix: str) -> Iterator[bytes]:
    for number in range(count):
        events = [
            {"type": "track", "messageId": f"{prefix}-{number}-{index}",
             "userId": f"probe-user-{index}", "event": "Probe Sent",
             "timestamp": "2026-03-03T14:02:11Z", "properties": {"n": number}}
            for index in range(EVENTS_PER_PROBE)
        ]  # fmt: skip
        yield json.dumps(events).encode()


def probe_main(url: str, secret: str, count: int, pause_ms: float, prefix: str) -> list[float]:
    bodies = list(_probe_bodies(count, prefix))
    print("ready", flush=True)
    sys.stdin.readline()  # go
    address = httpx.URL(url)
    connection = http.client.HTTPConnection(address.host, address.port, timeout=60)
    connection.connect()
    # http.client writes the head and the body apart: the body must not wait on Nagle.
    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    latencies = []
    for body in bodies:
        stamp = int(time.time() * 1000)
        headers = {"Content-Type": "application/json", "X-Timestamp": str(stamp),
                   "X-Signature": sign(secret, stamp, body)}  # fmt: skip
        start = time.perf_counter()
        connection.request("POST", "/v1/events", body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
        latencies.append((time.perf_counter() - start) * 1000)
        if response.status != 202:
            raise RuntimeError(f"ingestion answered {response.status}: {answer[:300]!r}")
        time.sleep(pause_ms / 1000)
    connection.close()
    return latencies


if __name__ == "__main__":
    url, secret, count, pause, prefix = sys.argv[1:6]
    print(json.dumps(probe_main(url, secret, int(count), float(pause), prefix)))
