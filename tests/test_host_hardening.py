"""The host under hostile or unlucky input: bodies checked while they stream, depth and
number limits, one process per SQLite file, optimistic revisions, key loss and
rotation, idempotent ingestion, a private database file."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from host_support import ADMIN, SIGNING_SECRET, FakeCustomerIo, HostClient, running_host, track

from signal_dest_cio.host import create_app, sign
from signal_dest_cio.host.dbfile import DatabaseInUse
from signal_dest_cio.host.guard import MAX_ADMIN_BODY_BYTES, MAX_EVENTS_BODY_BYTES
from signal_dest_cio.host.intake import MAX_EVENT_DEPTH
from signal_dest_cio.host.serve import WithoutQueryStrings
from signal_dest_cio.host.store import Store
from signal_dest_cio.host.vault import Vault, VaultError

MIB = 1024 * 1024


class Stream:
    """A request body that counts how much of it the server pulled."""

    def __init__(self, chunks: int, size: int = MIB) -> None:
        self.chunks, self.size, self.pulled = chunks, size, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.pulled += 1
            yield b"[" + b" " * (self.size - 2) + b"]"


# -- 1. bodies: checked before and while they stream --------------------------------------


async def test_an_unsigned_streaming_body_is_refused_before_it_is_read(host: HostClient) -> None:
    body = Stream(250)
    response = await host.http.post("/v1/events", content=body)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_signature"
    assert body.pulled <= 1  # not 250 MiB into memory


async def test_a_signed_body_past_the_cap_is_cut_off_while_it_streams(host: HostClient) -> None:
    stamp = int(host.clock.now() * 1000)
    body = Stream(250)
    headers = {"X-Timestamp": str(stamp), "X-Signature": "sha256=" + "0" * 64}
    response = await host.http.post("/v1/events", content=body, headers=headers)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert body.pulled <= MAX_EVENTS_BODY_BYTES // MIB + 1


async def test_a_declared_length_over_the_cap_is_refused_without_reading(host: HostClient) -> None:
    stamp = int(host.clock.now() * 1000)
    headers = {
        "X-Timestamp": str(stamp),
        "X-Signature": "sha256=00",
        "Content-Length": str(MAX_EVENTS_BODY_BYTES + 1),
    }
    body = Stream(1, 10)
    response = await host.http.post("/v1/events", content=body, headers=headers)
    assert response.status_code == 413 and body.pulled <= 1


async def test_admin_bodies_wait_for_the_token_and_have_a_cap(host: HostClient) -> None:
    path = "/v1/admin/integration-catalog/customer_io/install"
    anonymous = Stream(20)
    refused = await host.http.post(path, content=anonymous)
    assert refused.status_code == 401 and anonymous.pulled <= 1
    big = Stream(MAX_ADMIN_BODY_BYTES // MIB + 3)
    too_big = await host.http.post(path, content=big, headers=ADMIN)
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "payload_too_large"
    assert big.pulled <= MAX_ADMIN_BODY_BYTES // MIB + 1


# -- 2, 7 and the odd shapes: refused at ingestion with a 400 that names the problem ------


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"inner": value}
    return value


@pytest.mark.parametrize("depth", [MAX_EVENT_DEPTH + 1, 300, 5000])
async def test_events_nested_past_the_limit_are_a_400_naming_it(
    host: HostClient, depth: int
) -> None:
    await host.install()
    event = track(1, properties=nested(depth))
    response = await host.send_raw(json.dumps(event).encode() if depth < 900 else _deep_json(depth))
    assert response.status_code == 400, response.text
    assert "too_deep" in response.text and str(MAX_EVENT_DEPTH) in response.text


def _deep_json(depth: int) -> bytes:
    # json.dumps itself cannot write this deep; the host must still refuse it calmly.
    head = b'{"type":"track","userId":"u","event":"x","messageId":"deep","properties":'
    return head + b'{"a":' * depth + b"1" + b"}" * depth + b"}"


async def test_an_event_just_within_the_limit_is_accepted(host: HostClient) -> None:
    await host.install()
    response = await host.send(track(1, properties=nested(MAX_EVENT_DEPTH - 2)))
    assert response.status_code == 202 and response.json()["accepted"] == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"type":"track","userId":"u","event":"x","properties":{"n":1e309}}', "malformed_json"),
        (b'{"type":"track","userId":"u","event":"x","properties":{"n":-1e400}}', "malformed_json"),
        (b'{"type":"track","userId":"u","event":"x","properties":{"n":NaN}}', "malformed_json"),
        (b'{"batch": 5}', "invalid_batch"),
        (b'{"batch": {"type": "track"}}', "invalid_batch"),
    ],
)
async def test_numbers_json_cannot_carry_and_a_batch_that_is_no_list_are_refused(
    host: HostClient, body: bytes, code: str
) -> None:
    await host.install()
    response = await host.send_raw(body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


async def test_stored_data_too_deep_to_render_never_makes_a_listing_fail(
    host: HostClient,
) -> None:
    installed = await host.install()
    # Stored by an older host, before the limit: straight into the store.
    host.host.store.ingest([("old-deep", track(1, properties=nested(400)))], host.clock.now())
    await host.send([track(2)])
    response = await host.http.get(
        f"/v1/admin/integrations/{installed['id']}/deliveries", headers=ADMIN
    )
    assert response.status_code == 200
    shown = {d["message_id"]: d for d in response.json()["data"]}
    assert "unrenderable" in shown["old-deep"]["input"]
    assert shown["msg-2"]["input"]["event"] == "feature.used"


# -- 6. a client's retry of an ingestion call never duplicates ----------------------------


async def test_the_same_signed_call_posted_twice_queues_its_events_once(host: HostClient) -> None:
    installed = await host.install()
    events = [{k: v for k, v in track(n).items() if k != "messageId"} for n in range(3)]
    body = json.dumps(events).encode()
    stamp = int(host.clock.now() * 1000)
    first = (await host.send_raw(body, timestamp_ms=stamp)).json()
    again = (await host.send_raw(body, timestamp_ms=stamp)).json()
    assert first["accepted"] == 3 and again["accepted"] == 0
    assert sorted(again["duplicates"]) == sorted(first["message_ids"])
    deliveries = await host.deliveries(installed["id"])
    assert len(deliveries) == 3


async def test_an_idempotency_key_names_the_call_across_new_signatures(host: HostClient) -> None:
    await host.install()
    body = json.dumps([{"type": "track", "userId": "u", "event": "x"}]).encode()
    answers = []
    for offset in (0, 1000):  # a retry a second later: new timestamp, new signature
        stamp = int(host.clock.now() * 1000) + offset
        headers = {
            "Content-Type": "application/json",
            "X-Timestamp": str(stamp),
            "X-Signature": sign(SIGNING_SECRET, stamp, body),
            "Idempotency-Key": "k-1",
        }
        answers.append((await host.http.post("/v1/events", content=body, headers=headers)).json())
    assert answers[0]["accepted"] == 1 and answers[1]["duplicates"] == answers[0]["message_ids"]


# -- 3 and 9: one process per SQLite file, and the file is private ------------------------


def test_a_second_store_on_the_same_file_is_refused_and_the_first_keeps_working(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "host.db")
    first = Store(path)
    try:
        with pytest.raises(DatabaseInUse, match="another host process"):
            Store(path)
        assert first.ingest([("m1", track(1))], 1.0)[0].duplicate is False
    finally:
        first.close()
    Store(path).close()  # released with the first


def test_serve_refuses_to_start_on_a_database_another_host_holds(tmp_path: Path) -> None:
    path = str(tmp_path / "host.db")
    holder = Store(path)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "signal_dest_cio.cli", "serve", "--db", path, "--port", "0"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "SIGNAL_ADMIN_TOKEN": "t", "SIGNAL_SIGNING_SECRET": "s"},
        )
    finally:
        holder.close()
    assert result.returncode == 2
    assert "another host process" in result.stderr and str(os.getpid()) in result.stderr


async def test_the_database_and_its_wal_files_are_private(tmp_path: Path) -> None:
    path = str(tmp_path / "host.db")
    async with running_host(FakeCustomerIo().transport, db=path) as host:
        await host.install()
        await host.send([track(1)])
        for name in (path, path + "-wal", path + "-shm", path + ".lock", path + ".key"):
            assert stat.S_IMODE(os.stat(name).st_mode) == 0o600, name


# -- 4. optimistic revisions ----------------------------------------------------------------


async def test_a_revision_on_a_stale_base_is_a_409_naming_the_current_one(
    host: HostClient,
) -> None:
    installed = await host.install()
    path = f"/v1/admin/integrations/{installed['id']}/revisions"
    shown = await host.http.get(f"/v1/admin/integrations/{installed['id']}", headers=ADMIN)
    assert shown.headers["etag"] == '"1"'
    first = await host.http.post(
        path, headers={**ADMIN, "If-Match": '"1"'}, json={"config": {"api": "v1"}}
    )
    assert first.status_code == 201 and first.headers["etag"] == '"2"'
    stale = await host.http.post(
        path, headers={**ADMIN, "If-Match": '"1"'}, json={"config": {"page_name": "name"}}
    )
    assert stale.status_code == 409
    error = stale.json()["error"]
    assert error["code"] == "stale_revision" and "current revision is 2" in error["message"]
    by_body = await host.http.post(
        path, headers=ADMIN, json={"config": {"page_name": "name"}, "base_revision": 2}
    )
    assert by_body.status_code == 201
    config = by_body.json()["revision"]["config"]
    assert (config["api"], config["page_name"]) == ("v1", "name")


CHANGES: list[dict[str, Any]] = [
    {"convert_timestamps": False},
    {"page_name": "name"},
    {"identify_on_track": True},
    {"respect_consent": False},
    {"consent_category": "ads"},
    {"default_object_type_id": "2"},
    {"max_requests_per_second": 50},
    {"timeout_seconds": 5},
    {"api": "v1"},
]


async def test_concurrent_revisions_of_different_keys_all_land() -> None:
    target = FakeCustomerIo()

    async def slow_check(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.01)  # verification takes a while: the revisions overlap
        return target.handle(request)

    async with running_host(lambda: httpx.MockTransport(slow_check)) as host:
        installed = await host.install()
        path = f"/v1/admin/integrations/{installed['id']}/revisions?verify=true"
        answers = await asyncio.gather(
            *(host.http.post(path, headers=ADMIN, json={"config": c}) for c in CHANGES)
        )
        assert [a.status_code for a in answers] == [201] * len(CHANGES)
        final = (await host.integration(installed["id"]))["revision"]
    assert final["number"] == 1 + len(CHANGES)
    for change in CHANGES:
        [(key, value)] = change.items()
        assert final["config"][key] == value, key


# -- 5. a lost key stops the host; a rotation re-seals everything -------------------------


async def test_a_key_that_cannot_open_the_stored_configs_stops_the_host(tmp_path: Path) -> None:
    path = str(tmp_path / "host.db")
    async with running_host(FakeCustomerIo().transport, db=path) as host:
        await host.install()
    os.remove(path + ".key")  # the key file is lost: a new one would be made
    with pytest.raises(VaultError, match="another key"):
        create_app(db=path, admin_token="t", signing_secret="s", run_worker=False)
    Store(path, Vault.for_database(":memory:")).close()  # and the lock was let go


async def test_rotate_key_reseals_every_config_and_the_host_reads_them_with_the_new_key(
    tmp_path: Path,
) -> None:
    from signal_dest_cio.cli import main

    path = str(tmp_path / "host.db")
    async with running_host(FakeCustomerIo().transport, db=path) as host:
        installed = await host.install()
    old_key = Path(path + ".key").read_text()
    assert main(["rotate-key", "--db", path]) == 0
    assert Path(path + ".key").read_text() != old_key
    with pytest.raises(VaultError):
        Store(path, Vault(old_key.strip())).check_vault()
    async with running_host(FakeCustomerIo().transport, db=path) as host:
        shown = await host.integration(installed["id"])
    assert shown["revision"]["config"]["site_id"] == "site-host-1"


# -- the access log never shows a query string ---------------------------------------------


def test_access_log_lines_lose_their_query_strings() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/v1/admin/integrations?token=SECRET", "1.1", 200),
        None,
    )
    assert WithoutQueryStrings().filter(record)
    assert "SECRET" not in record.getMessage()
    assert "/v1/admin/integrations" in record.getMessage()
