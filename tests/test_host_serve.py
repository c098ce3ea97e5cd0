"""`signal-cio serve` runs the host: tokens printed once when generated, admin routes and
signed ingestion answering on the port it was given, the SQLite file where it was told."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from signal_dest_cio.cli import build_parser
from signal_dest_cio.host import sign
from signal_dest_cio.host.serve import live_url, policy_from


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_flags_override_the_documented_retry_defaults() -> None:
    args = build_parser().parse_args(["serve", "--max-attempts", "3", "--max-delay", "5"])
    policy = policy_from(args)
    assert (policy.max_attempts, policy.max_delay_seconds) == (3, 5)
    assert (policy.max_age_seconds, policy.base_delay_seconds) == (86_400, 1)
    defaults = policy_from(build_parser().parse_args(["serve"]))
    assert (defaults.max_attempts, defaults.max_delay_seconds) == (60, 3600)


def test_signal_cio_serve_prints_generated_tokens_once_and_serves(tmp_path: Path) -> None:
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SIGNAL_ADMIN_TOKEN", "SIGNAL_SIGNING_SECRET", "SIGNAL_SECRET_KEY")
    }
    command = [sys.executable, "-m", "signal_dest_cio.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--db", str(tmp_path / "host.db")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        printed = {}
        for _ in range(3):
            line = process.stdout.readline()
            what, _, value = line.rpartition(": ")
            printed[what] = value.strip()
        token = printed["admin token (set SIGNAL_ADMIN_TOKEN to choose your own)"]
        secret = printed["event signing secret (set SIGNAL_SIGNING_SECRET to choose your own)"]
        base = f"http://127.0.0.1:{port}"
        # The token was made here and printed above: the /live address is ready to open.
        assert printed["live events"] == f"{base}/live#token={token}"
        with httpx.Client(base_url=base, timeout=5) as client:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        pytest.fail("signal-cio serve did not start")
                    time.sleep(0.1)
            admin = {"Authorization": f"Bearer {token}"}
            assert client.get("/v1/admin/integration-catalog", headers=admin).status_code == 200
            assert client.get("/v1/admin/integration-catalog").status_code == 401
            body = json.dumps({"type": "track", "userId": "u", "event": "e"}).encode()
            stamp = int(time.time() * 1000)
            signed = {"X-Timestamp": str(stamp), "X-Signature": sign(secret, stamp, body)}
            assert client.post("/v1/events", content=body, headers=signed).status_code == 202
    finally:
        process.terminate()
        process.wait(10)
    assert (tmp_path / "host.db").exists() and (tmp_path / "host.db.key").exists()


def test_the_live_address_never_echoes_a_token_the_operator_set() -> None:
    assert live_url("127.0.0.1", 8084, "op-set-token", generated=False) == (
        "http://127.0.0.1:8084/live#token=<your SIGNAL_ADMIN_TOKEN>"
    )
    assert live_url("::1", 8084, "made-here", generated=True) == (
        "http://[::1]:8084/live#token=made-here"
    )


def test_the_files_serve_leaves_stay_out_of_git() -> None:
    """What `signal-cio serve` leaves in the directory it runs in is never committed."""
    names = ["signal-host.db", "signal-host.db-wal", "signal-host.db.key", "signal-host.db.lock"]
    names += ["other.db.key", "other.db.lock"]
    found = subprocess.run(
        ["git", "check-ignore", "--no-index", *names],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode == 128:
        pytest.skip("not a git checkout")
    assert found.stdout.split() == names
