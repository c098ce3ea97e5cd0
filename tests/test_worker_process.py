"""The delivery worker in a process of its own (`create_app(worker_process=True)`, what
`signal-cio serve` runs): it delivers from the host's database, is started again when
it dies, stops with the host, and exits when its host is killed (freeing the file)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from host_support import ADMIN, ADMIN_TOKEN, SIGNING_SECRET

from signal_dest_cio.emulator import EmulatorState, Workspace, serve_in_thread
from signal_dest_cio.host import create_app, sign
from signal_dest_cio.host.dbfile import DatabaseInUse
from signal_dest_cio.host.pg_local import free_port
from signal_dest_cio.host.store import SqliteStore
from signal_dest_cio.host.vault import Vault

WORKSPACE = Workspace("wp-site", "trk-WP-SECRET-1", "app-WP-SECRET-1", "us")
WAIT_SECONDS = 60


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def events(prefix: str, count: int) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{prefix}-{n}", {"type": "track", "messageId": f"{prefix}-{n}", "userId": f"u{n % 7}",
                           "event": "Worker Process", "properties": {"n": n}})
        for n in range(count)
    ]  # fmt: skip


@pytest.fixture
def emulator() -> Iterator[tuple[EmulatorState, str]]:
    state = EmulatorState([WORKSPACE])
    with serve_in_thread(state) as urls:
        yield state, urls.us


def config_for(url: str) -> dict[str, Any]:
    return {"site_id": WORKSPACE.site_id, "tracking_api_key": WORKSPACE.track_api_key,
            "api_key": WORKSPACE.app_api_key, "region": "us", "track_api_base_url": url,
            "max_requests_per_second": 10_000}  # fmt: skip


def tracked(state: EmulatorState) -> int:
    """How many events the workspace holds (each with its own dedup id)."""
    return sum(len(person["activity"]) for person in state.snapshot(WORKSPACE.site_id)["people"])


def test_the_worker_process_delivers_restarts_when_killed_and_stops_with_the_host(
    emulator: tuple[EmulatorState, str], tmp_path: Path
) -> None:
    state, url = emulator
    db = str(tmp_path / "host.db")
    app = create_app(
        db=db,
        admin_token=ADMIN_TOKEN,
        signing_secret=SIGNING_SECRET,
        secret_key=Fernet.generate_key().decode(),
        run_worker=False,
        poll_seconds=0.2,
        worker_process=True,
    )
    host = app.state.host
    installed = asyncio.run(
        host.install("customer_io", name="wp", variant=None, config=config_for(url),
                     delivery_mode="cloud", verify=False)
    )  # fmt: skip
    integration_id = installed["id"]
    store = host.store
    store.ingest(events("a", 40), host.now())
    host.worker.start()
    child = host.worker.child
    try:
        first_pid = child.pid
        assert first_pid is not None and first_pid != os.getpid()
        wait_for(lambda: store.counts(integration_id)["delivered"] == 40, "the first 40")
        # Delivered by the worker process: this process never ran a worker thread.
        assert "signal-delivery-worker" not in {t.name for t in threading.enumerate()}

        os.kill(first_pid, signal.SIGINT)  # Ctrl-C reaches the group: the host decides
        time.sleep(0.5)
        assert _running(first_pid) and child.restarts == 0

        os.kill(first_pid, signal.SIGKILL)  # a crash: the host starts another
        wait_for(lambda: child.restarts == 1 and child.pid not in (None, first_pid), "restart")
        store.ingest(events("b", 25), host.now())
        host.worker.wake()
        wait_for(lambda: store.counts(integration_id)["delivered"] == 65, "the next 25")
        assert tracked(state) == 65  # each once: none lost or sent twice by the restart
    finally:
        second_pid = child.pid
        asyncio.run(host.worker.stop())
        store.close()
    assert child.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(second_pid, 0)  # it exited (and was reaped) when the host stopped


def test_a_killed_host_s_worker_process_exits_and_frees_the_database(tmp_path: Path) -> None:
    db = str(tmp_path / "host.db")
    port = free_port()
    key = Fernet.generate_key().decode()
    env = {**os.environ, "SIGNAL_ADMIN_TOKEN": ADMIN_TOKEN,
           "SIGNAL_SIGNING_SECRET": SIGNING_SECRET, "SIGNAL_SECRET_KEY": key}  # fmt: skip
    serve = subprocess.Popen(
        [sys.executable, "-m", "signal_dest_cio.cli", "serve", "--db", db, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, "serve")
        children = _children(serve.pid)
        assert len(children) == 1, children  # the worker process
        # A second host on the file is refused while this one (and its worker) runs.
        with pytest.raises(DatabaseInUse):
            SqliteStore(db, Vault(key))
        body = json.dumps({"type": "track", "userId": "u", "event": "e"}).encode()
        stamp = int(time.time() * 1000)
        signed = {"X-Timestamp": str(stamp), "X-Signature": sign(SIGNING_SECRET, stamp, body)}
        assert httpx.post(f"{base}/v1/events", content=body, headers=signed).status_code == 202
        assert httpx.get(f"{base}/v1/admin/integrations", headers=ADMIN).status_code == 200
        serve.kill()
        serve.wait(10)
        wait_for(lambda: not _running(children[0]), "the orphaned worker process to exit")
        SqliteStore(db, Vault(key)).close()  # the file is free again
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait(10)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
