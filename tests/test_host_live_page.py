"""The /live page in headless Chromium against a real uvicorn host sending to the emulator:
the rows, an integration id column, the pause reason on the rows it holds back, paging,
the detail view of one delivery, and the per-integration chart (read off a screenshot)."""

from __future__ import annotations

import json
import re
import shutil
import socket
import struct
import subprocess
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from host_support import ADMIN, ADMIN_TOKEN, SIGNING_SECRET, track

from signal_dest_cio.emulator import EmulatorState, Workspace, serve_in_thread
from signal_dest_cio.host import create_app, sign

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--virtual-time-budget=5000",
]
DELIVERED_BADGE = (0xD8, 0xF5, 0xE1)  # .delivered background on the page
DEAD_BADGE = (0xFF, 0xD9, 0xD9)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip(
            "headless Chromium is not installed (Debian package `chromium`; .ci/run installs "
            "it when apt-get can), so the /live page is not rendered in a browser here"
        )
    return found


LIVE_WORKSPACE = Workspace("host-live-site", "trk-LIVE-SECRET", "app-LIVE-SECRET", "us")


@pytest.fixture
def emulator_url() -> Iterator[str]:
    """The Customer.io emulator on loopback sockets (both regions; the US one is used)."""
    with serve_in_thread(EmulatorState([LIVE_WORKSPACE])) as urls:
        yield urls.us


@pytest.fixture
def live_server() -> Iterator[str]:
    """The host under uvicorn on a loopback port, worker running on the real clock, sending
    over real sockets to wherever the installed config points."""
    app = create_app(admin_token=ADMIN_TOKEN, signing_secret=SIGNING_SECRET)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def run_chromium(
    binary: str, profile: Path, *args: str, height: int = 800
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            binary,
            *CHROMIUM_FLAGS,
            f"--window-size=1200,{height}",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def png_rows(path: Path) -> list[bytes]:
    """The RGB(A) scanlines of an 8-bit, non-interlaced PNG (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, {}
    idat = b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"IDAT":
            idat += body
        else:
            chunks[kind] = body
        position += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert depth == 8 and color in (2, 6) and interlace == 0
    channels = 3 if color == 2 else 4
    stride = width * channels
    raw = zlib.decompress(idat)
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up = previous[x]
            corner = previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                near = min((abs(guess - left), 0, left), (abs(guess - up), 1, up))
                near = min(near, (abs(guess - corner), 2, corner))
                line[x] = (line[x] + near[2]) & 0xFF
        rows.append(bytes(line if channels == 3 else _rgb(line)))
        previous = line
    return rows


def _rgb(rgba: bytearray) -> bytes:
    return bytes(b for i, b in enumerate(rgba) if i % 4 != 3)


def bands_of(rows: list[bytes], color: tuple[int, int, int]) -> int:
    """How many separate horizontal bands of the screenshot contain this colour."""
    needle = bytes(color)
    bands, inside = 0, False
    for row in rows:
        hit = any(row[i : i + 3] == needle for i in range(0, len(row), 3))
        bands += hit and not inside
        inside = hit
    return bands


def count_colour(rows: list[bytes], color: tuple[int, int, int]) -> int:
    """How many pixels of the screenshot are exactly this colour."""
    needle = bytes(color)
    return sum(row[i : i + 3] == needle for row in rows for i in range(0, len(row), 3))


CHART_DELIVERED = (0x2E, 0x9E, 0x5E)  # COLOURS in live_page/page.js
CHART_FAILED = (0xD6, 0x45, 0x3D)
CHART_LATENCY = (0x3A, 0x66, 0xD4)


@dataclass
class Populated:
    url: str
    emulator: str
    good: dict[str, Any]  # delivers: 4 delivered, 1 dead-lettered
    paused: dict[str, Any]  # same name, a revoked key: paused, 4 pending, 1 dead-lettered


def _install(client: httpx.Client, config: dict[str, Any], verify: bool) -> dict[str, Any]:
    response = client.post(
        f"/v1/admin/integration-catalog/customer_io/install?verify={str(verify).lower()}",
        headers=ADMIN,
        json={"name": "Customer.io", "config": config},
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def _deliveries(client: httpx.Client, integration_id: str) -> dict[str, Any]:
    path = f"/v1/admin/integrations/{integration_id}/deliveries"
    page: dict[str, Any] = client.get(path, headers=ADMIN, params={"limit": 200}).json()
    return page


@pytest.fixture
def populated(live_server: str, emulator_url: str) -> Populated:
    """Two integrations named alike: one delivering, one paused by a revoked key."""
    config = {
        "site_id": LIVE_WORKSPACE.site_id,
        "tracking_api_key": LIVE_WORKSPACE.track_api_key,
        "api_key": LIVE_WORKSPACE.app_api_key,
        "region": "us",
        "track_api_base_url": emulator_url,
        "app_api_base_url": emulator_url,
    }
    with httpx.Client(base_url=live_server, timeout=10) as client:
        good = _install(client, config, verify=True)
        paused = _install(client, {**config, "tracking_api_key": "trk-REVOKED"}, verify=False)
        events = [track(n) for n in range(4)] + [{"type": "alias", "messageId": "bad-1"}]
        body = json.dumps(events).encode()
        stamp = int(time.time() * 1000)
        signed = {"X-Timestamp": str(stamp), "X-Signature": sign(SIGNING_SECRET, stamp, body)}
        assert client.post("/v1/events", content=body, headers=signed).status_code == 202
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            settled = _deliveries(client, good["id"])["counts"]["pending"] == 0
            held = client.get(f"/v1/admin/integrations/{paused['id']}", headers=ADMIN).json()
            if settled and held["status"] == "paused":
                break
            time.sleep(0.1)
        assert _deliveries(client, good["id"])["counts"] == {
            "pending": 0, "delivered": 4, "filtered": 0, "dead_lettered": 1,
        }  # fmt: skip
        assert _deliveries(client, paused["id"])["counts"] == {
            "pending": 4, "delivered": 0, "filtered": 0, "dead_lettered": 1,
        }  # fmt: skip
        paused = client.get(f"/v1/admin/integrations/{paused['id']}", headers=ADMIN).json()
    return Populated(live_server, emulator_url, good, paused)


ROW = re.compile(r'<tr class="delivery" ([^>]*)>(.*?)</tr>', re.S)


def rows_of(dom: str) -> list[dict[str, str]]:
    """Each delivery row's data- attributes, and its cells' text under "cells"."""
    found = []
    for attributes, inner in ROW.findall(dom):
        row = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', attributes))
        row["cells"] = " | ".join(
            re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", inner, re.S)
        )
        found.append(row)
    return found


def dump(binary: str, profile: Path, url: str) -> str:
    run = run_chromium(binary, profile, "--dump-dom", url)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def test_live_page_tells_integrations_apart_and_marks_only_the_rows_a_pause_holds(
    populated: Populated, tmp_path: Path
) -> None:
    binary = chromium()
    good, paused = populated.good["id"], populated.paused["id"]
    people = httpx.get(f"{populated.emulator}/_emulator/workspaces/{LIVE_WORKSPACE.site_id}/people")
    stored = [a["data"]["message"] for p in people.json()["people"] for a in p["activity"]]
    assert sorted(stored) == ["msg-0", "msg-1", "msg-2", "msg-3"]  # once: the good one's

    dom = dump(binary, tmp_path / "dom", f"{populated.url}/live#token={ADMIN_TOKEN}")
    rows = rows_of(dom)
    assert len(rows) == 10
    assert "showing 10 of 10 deliveries across 2 integration(s)" in dom
    # Two integrations of one name: told apart by the id column and the cards.
    assert {r["integration-id"] for r in rows} == {good, paused}
    for row in rows:
        assert f"Customer.io | {row['integration-id']} | {row['message-id']}" in row["cells"]
    assert f'class="integration" data-integration-id="{good}"' in dom
    assert f'class="integration" data-integration-id="{paused}"' in dom
    # The pause: its reason on the card, and "paused" only on the rows it holds back.
    [reason] = re.findall(r'<p class="pause-reason">(.*?)</p>', dom)
    assert populated.paused["paused"]["code"] in reason and "paused since" in reason
    held_back = [r for r in rows if r.get("paused") == "true"]
    assert len(held_back) == 4
    assert all(r["integration-id"] == paused and r["status"] == "pending" for r in held_back)
    assert all("waits: integration paused" in r["cells"] for r in held_back)
    dead_of_paused = [r for r in rows if r["integration-id"] == paused and r["status"] != "pending"]
    assert [r.get("paused") for r in dead_of_paused] == [None]  # settled: not "paused"
    assert dom.count('class="status paused"') == 4 + 1  # four rows and the card's badge
    # The chart: one per integration, bars for what was delivered and what failed.
    assert dom.count('<svg class="chart"') == 2
    assert 'class="bar delivered"' in dom and 'class="bar failed"' in dom
    assert 'class="latency"' in dom

    shot = tmp_path / "live.png"
    url = f"{populated.url}/live#token={ADMIN_TOKEN}"
    taken = run_chromium(binary, tmp_path / "shot", f"--screenshot={shot}", url, height=1200)
    assert taken.returncode == 0 and shot.exists(), taken.stderr[-2000:]
    pixels = png_rows(shot)
    assert len(pixels) == 1200 and len(set(pixels)) > 50  # not blank
    assert bands_of(pixels, DELIVERED_BADGE) == 4  # one green badge per delivered row
    assert bands_of(pixels, DEAD_BADGE) == 2  # a dead letter in each integration
    # The chart drawn: a delivered bar (8 px wide, tens of px tall), a failed one, latency.
    assert count_colour(pixels, CHART_DELIVERED) >= 8 * 20
    assert count_colour(pixels, CHART_FAILED) >= 8 * 5
    assert count_colour(pixels, CHART_LATENCY) >= 5 * 5


def test_live_page_pages_instead_of_cutting_rows_and_opens_one_delivery(
    populated: Populated, tmp_path: Path
) -> None:
    binary = chromium()
    base = f"{populated.url}/live#token={ADMIN_TOKEN}"
    first = dump(binary, tmp_path / "p1", base + "&limit=2")
    assert len(rows_of(first)) == 4  # two per integration
    assert "showing 4 of 10 deliveries" in first
    assert '<button id="older" type="button">' in first  # shown: there is more
    every = dump(binary, tmp_path / "p3", base + "&limit=2&pages=3")
    assert len(rows_of(every)) == 10 and "showing 10 of 10" in every
    assert '<button id="older" type="button" hidden="">' in every
    only_dead = dump(binary, tmp_path / "dead", base + "&status=dead_lettered")
    assert {r["status"] for r in rows_of(only_dead)} == {"dead_lettered"}
    assert "showing 2 of 2 dead_lettered deliveries" in only_dead

    with httpx.Client(base_url=populated.url, timeout=10) as client:
        [delivered] = [
            d
            for d in _deliveries(client, populated.good["id"])["data"]
            if d["message_id"] == "msg-2"
        ]
        [held] = [
            d
            for d in _deliveries(client, populated.paused["id"])["data"]
            if d["message_id"] == "msg-2"
        ]
    opened = dump(
        binary, tmp_path / "d1", base + f"&delivery={populated.good['id']}/{delivered['id']}"
    )
    [detail] = re.findall(r'<aside id="detail">(.*?)</aside>', opened, re.S)
    assert f"Delivery {delivered['id']} · msg-2" in detail
    assert "<h3>Input</h3>" in detail and '"messageId": "msg-2"' in detail
    assert "sent in a batch, answered 200" in detail  # a delivered one's: worked out again
    assert f"<code>POST {populated.emulator}/api/v2/" in detail
    assert "<td>delivered</td><td>ok</td><td>200</td>" in detail  # the history
    opened = dump(
        binary, tmp_path / "d2", base + f"&delivery={populated.paused['id']}/{held['id']}"
    )
    [detail] = re.findall(r'<aside id="detail">(.*?)</aside>', opened, re.S)
    assert "<td>config_error</td><td>invalid_credentials</td><td>401</td>" in detail
    assert "each attempt's answer is in the history below" in detail
    assert "trk-REVOKED" not in opened and LIVE_WORKSPACE.track_api_key not in opened
