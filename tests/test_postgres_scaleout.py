"""Fault equivalence across processes (SPEC 11): three `signal-cio serve` processes on one
PostgreSQL database, one of them killed with SIGKILL while it has deliveries in flight,
deliver the same seeded sequence as one clean host, through injected faults, into an
emulator they all reach over loopback; both workspaces (Track v2 and v1) end the same.

The killed worker's claims come back once its lease runs out: another worker sends
them again (same dedup ids) and says so in their history (`reclaimed`).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from host_support import ADMIN, ADMIN_TOKEN, PG_SECRET_KEY, SIGNING_SECRET, running_host, schema_url
from test_fault_equivalence import PEOPLE, SEED, deduplicated, event_sequence, faults_for

from signal_dest_cio.emulator import EmulatorState, Workspace, serve_in_thread
from signal_dest_cio.host import sign
from signal_dest_cio.host.pg_local import free_port

CLEAN = {
    "v2": Workspace("scale-clean-v2", "trk-SC-CLEAN-2-SECRET", "app-SC-CLEAN-2-SECRET", "us"),
    "v1": Workspace("scale-clean-v1", "trk-SC-CLEAN-1-SECRET", "app-SC-CLEAN-1-SECRET", "us"),
}
FAULTY = {
    "v2": Workspace("scale-faulty-v2", "trk-SC-FAULTY-2-SECRET", "app-SC-FAULTY-2-SECRET", "us"),
    "v1": Workspace("scale-faulty-v1", "trk-SC-FAULTY-1-SECRET", "app-SC-FAULTY-1-SECRET", "us"),
}
PROCESSES = 3
LEASE_SECONDS = 2.0
DEADLINE_SECONDS = 180


def config_for(workspace: Workspace, api: str, base: str) -> dict[str, Any]:
    return {
        "site_id": workspace.site_id,
        "tracking_api_key": workspace.track_api_key,
        "api_key": workspace.app_api_key,
        "region": "us",
        "api": api,
        "max_requests_per_second": 10_000,
        "timeout_seconds": 3,
        "track_api_base_url": base,
        "app_api_base_url": base,
    }


class Serve:
    """One `signal-cio serve` process on the shared database."""

    def __init__(self, db: str, log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "SIGNAL_ADMIN_TOKEN": ADMIN_TOKEN,
            "SIGNAL_SIGNING_SECRET": SIGNING_SECRET,
            "SIGNAL_SECRET_KEY": PG_SECRET_KEY,
        }
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "signal_dest_cio.cli", "serve", "--db", db,
             "--port", str(self.port), "--lease-seconds", str(LEASE_SECONDS),
             "--base-delay", "0.2", "--max-delay", "2"],
            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text(errors="replace")[-3000:]
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"serve on {self.port} did not start")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def emulator() -> Iterator[tuple[EmulatorState, str]]:
    state = EmulatorState([*CLEAN.values(), *FAULTY.values()])
    with serve_in_thread(state) as urls:
        yield state, urls.us


def post_events(base: str, events: list[dict[str, Any]]) -> None:
    body = json.dumps(events).encode()
    stamp = int(time.time() * 1000)
    headers = {"X-Timestamp": str(stamp), "X-Signature": sign(SIGNING_SECRET, stamp, body),
               "Content-Type": "application/json"}  # fmt: skip
    response = httpx.post(f"{base}/v1/events", content=body, headers=headers, timeout=30)
    assert response.status_code == 202 and response.json()["accepted"] == len(events)


def install(base: str, workspace: Workspace, api: str, emulator_url: str) -> str:
    response = httpx.post(
        f"{base}/v1/admin/integration-catalog/customer_io/install",
        headers=ADMIN,
        json={"name": workspace.site_id, "config": config_for(workspace, api, emulator_url)},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    integration_id: str = response.json()["id"]
    return integration_id


def all_deliveries(base: str, integration_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = httpx.get(
            f"{base}/v1/admin/integrations/{integration_id}/deliveries",
            headers=ADMIN, params=params, timeout=30,
        ).json()  # fmt: skip
        found += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def parent_of(pid: int) -> int:
    """The parent's pid (/proc/PID/stat's 4th field, after the parenthesised name)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def kill_a_worker_with_claims_in_flight(db: str, hosts: list[Serve]) -> str:
    """SIGKILL a host that holds claimed, unsettled deliveries (a round in flight): its
    worker process (the worker id's pid) and the `serve` process that started it."""
    pids = {host.process.pid: host for host in hosts}
    deadline = time.monotonic() + 60
    with psycopg.connect(db, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT leased_by FROM deliveries WHERE status = 'pending'"
                " AND leased_by IS NOT NULL LIMIT 1"
            ).fetchone()
            if row is not None:
                worker = str(row[0])
                pid = int(worker.rsplit(":", 2)[1])
                try:
                    serve_pid = parent_of(pid)
                except (FileNotFoundError, ProcessLookupError):
                    continue
                if serve_pid in pids:
                    # Frozen first, then asked again: the round seen in flight may have
                    # settled meanwhile, and a kill after that would test nothing.
                    os.kill(pid, signal.SIGSTOP)
                    still = conn.execute(
                        "SELECT 1 FROM deliveries WHERE status = 'pending' AND leased_by = %s"
                        " LIMIT 1",
                        (worker,),
                    ).fetchone()
                    if still is not None:
                        os.kill(serve_pid, signal.SIGKILL)
                        os.kill(pid, signal.SIGKILL)
                        pids[serve_pid].process.wait(10)
                        return worker
                    os.kill(pid, signal.SIGCONT)
            time.sleep(0.005)
    raise AssertionError("no worker was ever seen with a delivery in flight")


async def test_three_processes_one_killed_mid_run_end_as_one_clean_host(
    emulator: tuple[EmulatorState, str], postgres_server: str, tmp_path: Path
) -> None:
    state, url = emulator
    events = event_sequence()

    async with running_host(None) as clean:  # the reference: one host, nothing failing
        for api, workspace in CLEAN.items():
            response = await clean.http.post(
                "/v1/admin/integration-catalog/customer_io/install",
                headers=ADMIN,
                json={"name": workspace.site_id, "config": config_for(workspace, api, url)},
            )
            assert response.status_code == 201, response.text
        for start in range(0, len(events), 60):
            assert (await clean.send(events[start : start + 60])).status_code == 202
        await clean.worker.drain()

    for api, workspace in FAULTY.items():
        for fault in faults_for(workspace, api, random.Random(SEED)):
            state.faults.add(fault)
    db = schema_url(postgres_server, "scaleout_" + os.urandom(4).hex())
    with ExitStack() as stack:
        hosts = [Serve(db, tmp_path / f"serve-{n}.log") for n in range(PROCESSES)]
        for host in hosts:
            stack.callback(host.stop)
        for host in hosts:
            host.wait_ready()
        ids = {api: install(hosts[0].base, ws, api, url) for api, ws in FAULTY.items()}
        for number, start in enumerate(range(0, len(events), 60)):  # any process ingests
            post_events(hosts[number % PROCESSES].base, events[start : start + 60])
        killed = kill_a_worker_with_claims_in_flight(db, hosts)
        survivors = [h for h in hosts if h.process.poll() is None]
        assert len(survivors) == PROCESSES - 1
        deliveries = wait_until_settled(survivors[0].base, list(ids.values()))

    assert state.faults.pending() == []  # every injected fault was met
    statuses = {d["status"] for d in deliveries}
    assert statuses == {"delivered"}, statuses
    reclaimed = [
        entry
        for d in deliveries
        for entry in d["history"]
        if entry["kind"] == "reclaimed" and entry["leased_by"] == killed
    ]
    assert reclaimed, "the killed worker's claims must have been taken up by another"
    assert any(d["attempts"] > 1 for d in deliveries), "the faults must have caused retries"
    for api in ("v2", "v1"):
        clean_state = deduplicated(state.snapshot(CLEAN[api].site_id))
        faulty_state = deduplicated(state.snapshot(FAULTY[api].site_id))
        assert len(clean_state["people"]) >= PEOPLE - 3 and clean_state["merges"]
        assert faulty_state["people"] == clean_state["people"], api
        assert faulty_state == clean_state, api


def wait_until_settled(base: str, integration_ids: list[str]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        counts = [
            httpx.get(f"{base}/v1/admin/integrations/{i}", headers=ADMIN, timeout=30).json()[
                "deliveries"
            ]
            for i in integration_ids
        ]
        if all(c["pending"] == 0 for c in counts):
            return [d for i in integration_ids for d in all_deliveries(base, i)]
        assert time.monotonic() < deadline, counts
        time.sleep(0.25)
