"""`signal-cio emulator --tls`: https with a certificate made at start, its CA file printed,
and Customer.io's own Python client (`customerio`, https only) pointed at it."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from customerio import CustomerIO

from signal_dest_cio.emulator import default_state
from signal_dest_cio.emulator.tls import make_tls_files


def _start(*extra: str) -> tuple[subprocess.Popen[str], list[str]]:
    command = [sys.executable, "-m", "signal_dest_cio.cli", "emulator", "--tls"]
    process = subprocess.Popen(
        [*command, "--us-port", "0", "--eu-port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "Ctrl-C" in line:
            break
    return process, lines


@pytest.fixture
def tls_emulator() -> Iterator[tuple[str, Path, str]]:
    """The command running: (US URL, CA file, everything it printed)."""
    process, lines = _start()
    try:
        printed = "".join(lines)
        [us] = [line.split()[1] for line in lines if line.strip().startswith("US ")]
        [ca] = [line.split(": ", 1)[1].strip() for line in lines if "TLS CA file:" in line]
        yield us, Path(ca), printed
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=15)
    assert process.returncode == 0
    assert not Path(ca).exists()  # the temporary CA went with the emulator


def test_the_official_client_sends_to_the_tls_emulator(
    tls_emulator: tuple[str, Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    us, ca, printed = tls_emulator
    assert us.startswith("https://127.0.0.1:") and ca.is_file()
    assert f"REQUESTS_CA_BUNDLE={ca}" in printed
    workspace = next(w for w in default_state().workspaces if w.region == "us")
    assert workspace.track_api_key not in printed
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))  # as the README says
    port = int(us.rsplit(":", 1)[1])
    cio = CustomerIO(workspace.site_id, workspace.track_api_key, host="127.0.0.1", port=port)
    cio.identify("tls-1", email="tls@example.com", plan="pro")
    cio.track("tls-1", "signed_up", data={"via": "https"})

    trusted = ssl.create_default_context(cafile=str(ca))
    people = httpx.get(f"{us}/_emulator/workspaces/{workspace.site_id}/people", verify=trusted)
    [person] = [p for p in people.json()["people"] if p["identifiers"].get("id") == "tls-1"]
    assert person["attributes"] == {"plan": "pro"}
    assert [e["name"] for e in person["activity"]] == ["signed_up"]
    with pytest.raises(httpx.ConnectError):  # real TLS: without the CA, no trust
        httpx.get(f"{us}/_emulator/workspaces/{workspace.site_id}/people")


def test_a_tls_dir_keeps_its_ca_across_runs(tmp_path: Path) -> None:
    first = make_tls_files(tmp_path)
    ca = first.ca.read_bytes()
    assert b"BEGIN CERTIFICATE" in ca and (first.key.stat().st_mode & 0o777) == 0o600
    assert make_tls_files(tmp_path).ca.read_bytes() == ca  # trusted once, trusted again
    assert make_tls_files(tmp_path, reuse=False).ca.read_bytes() != ca
    assert not list(tmp_path.glob("*ca*key*"))  # the CA's key is never written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca.pem", "cert.pem", "key.pem"]
