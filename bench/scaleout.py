"""`python -m bench.scaleout`: end-to-end throughput of the host with 1, 2 and 4 processes
on PostgreSQL, against one on SQLite, in one run (SPEC 11).

Each configuration starts real `signal-cio serve` processes on a fresh database, installs
`--integrations` integrations (each its own workspace) pointing at the benchmark
server (`bench.server`, HTTPS on loopback, every answer 30 ms late), then sends the
same signed events to the processes in turn and times ingest -> store -> deliver ->
answered until every delivery is `delivered`. The figure is deliveries per second
(events x integrations / seconds); ratios are to SQLite with one process, measured
minutes apart on the same machine. PostgreSQL runs with fsync on, as SQLite does.

Nothing here leaves the machine: the database, the hosts and the server all listen
on 127.0.0.1, and every run stops by itself.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg

from signal_dest_cio.host import sign
from signal_dest_cio.host.pg_local import free_port, local_cluster

from .local import local_server

ADMIN_TOKEN = "bench-scaleout-admin"
SIGNING_SECRET = "bench-scaleout-signing"
SECRET_KEY = "pFQG2lYbD3yCqk8wL2lJ3kGmT1c3t6V0lq0r4dGpG5w="
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
LATENCY_MS = 30.0
CHUNK = 100  # events per ingestion request
INGESTERS = 2  # ingestion requests in flight at once
RUN_LIMIT_S = 600.0


def events(count: int, people: int) -> list[dict[str, Any]]:
    """Identify each person once, then tracks spread over them (distinct lanes, mostly)."""
    made: list[dict[str, Any]] = []
    for n in range(count):
        person = f"person-{n % people}"
        if n < people:
            made.append({"type": "identify", "userId": person,
                         "traits": {"email": f"{person}@example.com", "plan": "pro"}})  # fmt: skip
        else:
            made.append({"type": "track", "userId": person, "event": "feature.used",
                         "properties": {"n": n, "area": "reports"}})  # fmt: skip
        made[-1]["messageId"] = f"bench-{n:07d}"
        made[-1]["timestamp"] = 1_770_000_000 + n
    return made


class Serve:
    def __init__(self, db: str, api: str, log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "SIGNAL_ADMIN_TOKEN": ADMIN_TOKEN,
            "SIGNAL_SIGNING_SECRET": SIGNING_SECRET,
            "SIGNAL_SECRET_KEY": SECRET_KEY,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "signal_dest_cio.cli", "serve", "--db", db,
             "--port", str(self.port), "--lease-seconds", "10"],
            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.api = api

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"signal-cio serve exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("signal-cio serve did not start")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def install(base: str, number: int, api: str, server_url: str) -> str:
    config = {"site_id": f"bench-site-{number}", "tracking_api_key": "trk-bench",
              "api_key": "app-bench", "region": "us", "api": api,
              "track_api_base_url": server_url, "max_requests_per_second": 10_000}  # fmt: skip
    response = httpx.post(
        f"{base}/v1/admin/integration-catalog/customer_io/install",
        headers=ADMIN, json={"name": f"bench {number}", "config": config}, timeout=30,
    )  # fmt: skip
    response.raise_for_status()
    integration_id: str = response.json()["id"]
    return integration_id


def ingest(hosts: list[Serve], batch: list[dict[str, Any]]) -> float:
    """Send every event, `INGESTERS` requests at a time, to the hosts in turn."""
    chunks = [batch[n : n + CHUNK] for n in range(0, len(batch), CHUNK)]
    lock = threading.Lock()
    started = time.monotonic()

    def send() -> None:
        with httpx.Client(timeout=60) as client:
            while True:
                with lock:
                    if not chunks:
                        return
                    number = len(chunks)
                    chunk = chunks.pop(0)
                body = json.dumps(chunk).encode()
                stamp = int(time.time() * 1000)
                headers = {"Content-Type": "application/json", "X-Timestamp": str(stamp),
                           "X-Signature": sign(SIGNING_SECRET, stamp, body)}  # fmt: skip
                host = hosts[number % len(hosts)]
                response = client.post(f"{host.base}/v1/events", content=body, headers=headers)
                response.raise_for_status()

    threads = [threading.Thread(target=send) for _ in range(INGESTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - started


def wait_delivered(db: str, base: str, expected: int) -> None:
    """Until nothing is pending, asked of the database itself: the admin API's counts cost
    the host more than the work they would measure."""
    deadline = time.monotonic() + RUN_LIMIT_S
    pending = "SELECT EXISTS (SELECT 1 FROM deliveries WHERE status = 'pending')"
    if db.startswith("postgresql://"):
        conn: Any = psycopg.connect(db, autocommit=True)
    else:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    with contextlib.closing(conn):
        while conn.execute(pending).fetchone()[0]:
            if time.monotonic() > deadline:
                raise RuntimeError("the deliveries did not finish in time")
            time.sleep(0.1)
    listed = httpx.get(f"{base}/v1/admin/integrations", headers=ADMIN, timeout=60).json()["data"]
    delivered = sum(i["deliveries"]["delivered"] for i in listed)
    if delivered != expected:
        raise RuntimeError(f"{delivered} of {expected} deliveries were delivered: {listed}")


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def postgres_cpu(server_pid: int) -> float:
    """CPU time of the benchmark's PostgreSQL: its postmaster and every backend of it."""
    total = cpu_seconds(server_pid)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == server_pid:  # the parent's pid
            total += cpu_seconds(int(stat.parent.name))
    return total


def server_pid_of(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
    assert row is not None
    data = Path(str(row[0]))
    return int((data / "postmaster.pid").read_text().split()[0])


def holders(db: str) -> list[int]:
    """How many integrations each worker held at the end (PostgreSQL)."""
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM integration_leases WHERE leased_by IS NOT NULL"
            " GROUP BY leased_by ORDER BY 1 DESC"
        ).fetchall()
    return [int(row[0]) for row in rows]


def run_one(
    store: str, processes: int, db: str, server: Any, batch: list[dict[str, Any]],
    integrations: int, api: str, logs: Path,
) -> dict[str, Any]:  # fmt: skip
    server_url, server_stats = server.url(LATENCY_MS), server.stats
    with ExitStack() as stack:
        hosts = [Serve(db, api, logs / f"{store}-{processes}-{n}.log") for n in range(processes)]
        for host in hosts:
            stack.callback(host.stop)
        for host in hosts:
            host.wait_ready()
        for number in range(integrations):
            install(hosts[0].base, number, api, server_url)
        time.sleep(2.5)  # every worker has beaten twice: the integrations are shared out
        before = _cpu(hosts, server_stats, store)
        started = time.monotonic()
        ingest_seconds = ingest(hosts, batch)
        wait_delivered(db, hosts[0].base, len(batch) * integrations)
        seconds = time.monotonic() - started
        after = _cpu(hosts, server_stats, store)
        shares = holders(db) if store == "postgresql" else [integrations]
    cores = {name: round((after[name] - before[name]) / seconds, 2) for name in after}
    deliveries = len(batch) * integrations
    return {"store": store, "processes": processes, "events": len(batch),
            "integrations": integrations, "deliveries": deliveries,
            "seconds": round(seconds, 2), "ingest_seconds": round(ingest_seconds, 2),
            "deliveries_per_s": round(deliveries / seconds, 1),
            "integrations_per_worker": shares, "cores_busy": cores}  # fmt: skip


SERVER_PID = [0]  # the benchmark cluster's postmaster, once started


def _cpu(hosts: list[Serve], server_stats: Any, store: str) -> dict[str, float]:
    """CPU seconds so far of the hosts, the database, the server and this process."""
    return {
        "hosts": sum(cpu_seconds(host.process.pid) for host in hosts),
        "postgres": postgres_cpu(SERVER_PID[0]) if store == "postgresql" else 0.0,
        "server": float(server_stats()["cpu_seconds"]),
        "bench": time.process_time(),
    }


@contextmanager
def fresh_databases(url: str) -> Iterator[Any]:
    """A new database per configuration, in the one cluster."""
    made: list[str] = []

    def new(name: str) -> str:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return url.rsplit("/", 1)[0] + f"/{name}"

    yield new


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scaleout", description=__doc__)
    parser.add_argument("--events", type=int, default=4_000)
    parser.add_argument("--people", type=int, default=1_000)
    parser.add_argument("--integrations", type=int, default=8)
    parser.add_argument("--processes", default="1,2,4", help="PostgreSQL process counts")
    parser.add_argument("--api", choices=("v1", "v2"), default="v2")
    parser.add_argument("--rounds", type=int, default=2, help="each configuration, interleaved")
    parser.add_argument("--json", metavar="PATH", help="also write the results here")
    args = parser.parse_args()
    configs = [("sqlite", 1)] + [("postgresql", int(n)) for n in args.processes.split(",")]
    batch = events(args.events, args.people)
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {config: [] for config in configs}
    with ExitStack() as stack:
        logs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-scale-")))
        server = stack.enter_context(local_server((LATENCY_MS,), failing_ms=()))
        url = stack.enter_context(local_cluster(durable=True))
        SERVER_PID[0] = server_pid_of(url)
        new_database = stack.enter_context(fresh_databases(url))
        for round_ in range(args.rounds):  # the order rotates: others' load falls on all
            shift = round_ % len(configs)
            for store, processes in [*configs[shift:], *configs[:shift]]:
                name = f"r{round_}_{store}_{processes}"
                db = new_database(name) if store == "postgresql" else str(logs / f"{name}.db")
                result = run_one(
                    store, processes, db, server, batch, args.integrations, args.api, logs
                )
                runs[(store, processes)].append(result)
                print(json.dumps(result), flush=True)
    best = {
        config: max(found, key=lambda r: r["deliveries_per_s"]) for config, found in runs.items()
    }
    base = best[configs[0]]["deliveries_per_s"]
    print(f"\nbest of {args.rounds}, {args.integrations} integrations, {LATENCY_MS:.0f} ms server")
    print(f"{'store':<11} {'processes':>9} {'deliveries/s':>13} {'vs SQLite':>10}  cores busy")
    for (store, processes), row in best.items():
        rate = row["deliveries_per_s"]
        print(f"{store:<11} {processes:>9} {rate:>13.0f} {rate / base:>9.2f}x  {row['cores_busy']}")
    if args.json:
        summary = {"latency_ms": LATENCY_MS, "best": list(best.values()),
                   "runs": [r for found in runs.values() for r in found]}  # fmt: skip
        Path(args.json).write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
