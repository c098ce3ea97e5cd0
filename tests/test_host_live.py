"""Live events: the deliveries API (filter, cursor pages), send-test-event, and the /live
page, rendered by headless Chromium against a real uvicorn server."""

from __future__ import annotations

import json
import shutil
import socket
import struct
import subprocess
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from host_support import (
    ADMIN,
    ADMIN_TOKEN,
    APP_KEY,
    SIGNING_SECRET,
    TRACK_KEY,
    FakeCustomerIo,
    HostClient,
    track,
)

from signal_dest_cio.destination import CustomerIoDestination
from signal_dest_cio.emulator import EmulatorState, Workspace, serve_in_thread
from signal_dest_cio.host import create_app, sign


async def test_deliveries_filter_by_status_and_page_with_a_cursor(
    host: HostClient, target: FakeCustomerIo
) -> None:
    installed = await host.install()
    nobody = [{"type": "alias", "messageId": f"bad-{n}"} for n in range(3)]
    await host.send([track(n) for n in range(12)] + nobody)
    await host.worker.drain()
    path = f"/v1/admin/integrations/{installed['id']}/deliveries"
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = (await host.http.get(path, headers=ADMIN, params=params)).json()
        assert len(page["data"]) <= 4
        seen += [d["message_id"] for d in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 15  # every record once, newest first
    assert seen[0] == "bad-2" and seen[-1] == "msg-0"
    assert page["counts"] == {"pending": 0, "delivered": 12, "filtered": 0, "dead_lettered": 3}
    dead = (await host.http.get(path, headers=ADMIN, params={"status": "dead_lettered"})).json()
    assert {d["message_id"] for d in dead["data"]} == {"bad-0", "bad-1", "bad-2"}
    bad_cursor = await host.http.get(path, headers=ADMIN, params={"cursor": "abc"})
    assert bad_cursor.status_code == 422
    bad_status = await host.http.get(path, headers=ADMIN, params={"status": "lost"})
    assert bad_status.status_code == 422
    missing = await host.http.get("/v1/admin/integrations/int_nope/deliveries", headers=ADMIN)
    assert missing.status_code == 404


async def test_send_test_event_delivers_a_sample_and_returns_its_record(
    host: HostClient, target: FakeCustomerIo
) -> None:
    installed = await host.install()
    path = f"/v1/admin/integrations/{installed['id']}/send-test-event"
    response = await host.http.post(path, headers=ADMIN, json={"type": "identify"})
    assert response.status_code == 200
    record = response.json()
    assert record["test"] is True and record["status"] == "delivered"
    assert record["input"]["type"] == "identify"
    assert record["outcome"]["kind"] == "delivered" and record["response_status"] == 200
    [request] = record["requests"]  # the request really sent, with its status
    assert request["status"] == 200
    assert request["url"] == "https://track.customer.io/api/v2/batch"
    assert request["json"]["batch"][0]["action"] == "identify"
    assert TRACK_KEY not in response.text and APP_KEY not in response.text
    listed = await host.deliveries(installed["id"])
    assert [d["id"] for d in listed] == [record["id"]]
    custom = (await host.http.post(path, headers=ADMIN, json={"event": track(99)})).json()
    # A test event has its own id (so its own dedup id): the given one is only noted.
    assert custom["message_id"].startswith("test-") and custom["status"] == "delivered"
    assert custom["input"]["context"]["test_of_message_id"] == "msg-99"
    again = await host.http.post(path, headers=ADMIN, json={"event": track(99)})
    assert again.status_code == 200 and again.json()["message_id"] != custom["message_id"]


async def test_a_test_event_never_uses_up_the_message_id_of_real_traffic(
    host: HostClient, target: FakeCustomerIo
) -> None:
    installed = await host.install()
    path = f"/v1/admin/integrations/{installed['id']}/send-test-event"
    assert (await host.http.post(path, headers=ADMIN, json={"event": track(5)})).status_code == 200
    accepted = (await host.send([track(5)])).json()
    assert accepted["accepted"] == 1 and accepted["duplicates"] == []
    await host.worker.drain()
    real = [d for d in await host.deliveries(installed["id"]) if not d["test"]]
    assert [(d["message_id"], d["status"]) for d in real] == [("msg-5", "delivered")]
    assert target.accepted["msg-5"] == 2  # the test's event and the real one, each its own id


async def test_a_test_event_cut_short_leaves_no_pending_row(
    host: HostClient, target: FakeCustomerIo, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed = await host.install()

    async def broken(self: object, events: object) -> object:
        raise RuntimeError("the destination fell over")

    monkeypatch.setattr(CustomerIoDestination, "deliver", broken)
    path = f"/v1/admin/integrations/{installed['id']}/send-test-event"
    with pytest.raises(RuntimeError):
        await host.http.post(path, headers=ADMIN)
    [record] = await host.deliveries(installed["id"])
    assert record["test"] is True and record["status"] == "dead_lettered"
    assert record["reason"]["code"] == "test_interrupted"


async def test_a_failing_test_event_is_dead_lettered_without_pausing(
    host: HostClient, target: FakeCustomerIo
) -> None:
    installed = await host.install()
    target.track_key = "revoked"
    path = f"/v1/admin/integrations/{installed['id']}/send-test-event"
    record = (await host.http.post(path, headers=ADMIN)).json()
    assert record["status"] == "dead_lettered"
    assert record["reason"]["code"] == "invalid_credentials"
    assert record["response_status"] == 401
    assert (await host.integration(installed["id"]))["status"] == "active"


async def test_the_live_page_is_a_self_refreshing_shell_without_data(host: HostClient) -> None:
    response = await host.http.get("/live")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src 'nonce-" in response.headers["content-security-policy"]
    assert 'id="rows"' in response.text and "setTimeout(refresh" in response.text
    assert ADMIN_TOKEN not in response.text


# -- the page in a real browser -----------------------------------------------------------

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1200,800",
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


def run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
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


def test_live_page_in_headless_chromium_shows_the_rows(
    live_server: str, emulator_url: str, tmp_path: Path
) -> None:
    binary = chromium()
    config = {
        "site_id": LIVE_WORKSPACE.site_id,
        "tracking_api_key": LIVE_WORKSPACE.track_api_key,
        "api_key": LIVE_WORKSPACE.app_api_key,
        "region": "us",
        "track_api_base_url": emulator_url,
        "app_api_base_url": emulator_url,
    }
    with httpx.Client(base_url=live_server, timeout=10) as client:
        installed = client.post(
            "/v1/admin/integration-catalog/customer_io/install?verify=true",
            headers=ADMIN,
            json={"name": "Customer.io", "config": config},
        ).json()
        events = [track(n) for n in range(4)] + [{"type": "alias", "messageId": "bad-1"}]
        body = json.dumps(events).encode()
        stamp = int(time.time() * 1000)
        signed = {"X-Timestamp": str(stamp), "X-Signature": sign(SIGNING_SECRET, stamp, body)}
        assert client.post("/v1/events", content=body, headers=signed).status_code == 202
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            page = client.get(
                f"/v1/admin/integrations/{installed['id']}/deliveries", headers=ADMIN
            ).json()
            if page["counts"]["pending"] == 0:
                break
            time.sleep(0.1)
    assert page["counts"] == {"pending": 0, "delivered": 4, "filtered": 0, "dead_lettered": 1}
    people = httpx.get(f"{emulator_url}/_emulator/workspaces/{LIVE_WORKSPACE.site_id}/people")
    stored = [a["data"]["message"] for p in people.json()["people"] for a in p["activity"]]
    assert sorted(stored) == ["msg-0", "msg-1", "msg-2", "msg-3"]
    url = f"{live_server}/live#token={ADMIN_TOKEN}"

    dom = run_chromium(binary, tmp_path / "dom", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count('class="delivery"') == 5
    for message_id in ("msg-0", "msg-3", "bad-1"):
        assert f'data-message-id="{message_id}"' in dom.stdout
    assert 'data-status="dead_lettered"' in dom.stdout
    assert "5 deliveries across 1 integration(s)" in dom.stdout

    shot = tmp_path / "live.png"
    taken = run_chromium(binary, tmp_path / "shot", f"--screenshot={shot}", url)
    assert taken.returncode == 0 and shot.exists(), taken.stderr[-2000:]
    rows = png_rows(shot)
    assert len(rows) == 800 and len(set(rows)) > 50  # not blank
    assert bands_of(rows, DELIVERED_BADGE) == 4  # one green badge per delivered row
    assert bands_of(rows, DEAD_BADGE) == 1


async def test_a_test_event_json_cannot_echo_back_is_refused(host: HostClient) -> None:
    installed = await host.install()
    path = f"/v1/admin/integrations/{installed['id']}/send-test-event"
    body = b'{"event": {"type": "track", "userId": "u", "event": "e", "properties": {"x": NaN}}}'
    response = await host.http.post(
        path, headers={**ADMIN, "Content-Type": "application/json"}, content=body
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_json"
    assert await host.deliveries(installed["id"]) == []
