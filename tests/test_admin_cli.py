"""`signal-cio admin ...` against a real host app (in process, httpx.ASGITransport) whose
deliveries go to the local emulator: tables and JSON carry the host's values, exit
codes mean what the module says, and no key or token is ever printed."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from emulator_support import US, US_BASE, app_for, new_state
from host_support import ADMIN_TOKEN, HostClient, running_host, track

from signal_dest_cio.admin_cli import admin_command
from signal_dest_cio.cli import build_parser
from signal_dest_cio.emulator import EmulatorState

SECRETS = (US.track_api_key, US.app_api_key, ADMIN_TOKEN)
CONFIG: dict[str, Any] = {
    "site_id": US.site_id,
    "tracking_api_key": US.track_api_key,
    "api_key": US.app_api_key,
    "region": "us",
    "max_requests_per_second": 10_000,
    "track_api_base_url": US_BASE,
    "app_api_base_url": US_BASE,
}


class Cli:
    """`signal-cio admin` on the host under test; every output is checked for secrets."""

    def __init__(self, host: HostClient, tmp: Path) -> None:
        self.host = host
        self.tmp = tmp

    def file(self, name: str, data: Any) -> str:
        path = self.tmp / name
        path.write_text(json.dumps(data), encoding="utf-8")
        return str(path)

    async def run(self, *argv: str) -> tuple[int, str, str]:
        args = build_parser().parse_args(["admin", "--url", "http://host.test", *argv])
        out, err = io.StringIO(), io.StringIO()
        transport = httpx.ASGITransport(app=self.host.app)
        code = await admin_command(args, transport=transport, out=out, err=err)
        for secret in SECRETS:
            assert secret not in out.getvalue() + err.getvalue()
        return code, out.getvalue(), err.getvalue()

    async def json(self, *argv: str, code: int = 0) -> Any:
        got, out, err = await self.run(*argv, "--json")
        assert got == code, err
        return json.loads(out)

    async def install(self, *extra: str) -> str:
        body = self.file("body.json", {"name": "Customer.io", "config": CONFIG})
        return str((await self.json("install", "--file", body, *extra))["id"])


@pytest.fixture
def emulator() -> EmulatorState:
    return new_state()


@pytest.fixture
async def cli(
    emulator: EmulatorState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Cli]:
    monkeypatch.setenv("SIGNAL_ADMIN_TOKEN", ADMIN_TOKEN)
    monkeypatch.setenv("COLUMNS", "80")  # tables as an 80-column terminal shows them

    def to_emulator() -> httpx.AsyncBaseTransport:
        return httpx.ASGITransport(app=app_for(emulator, "us"))

    async with running_host(to_emulator) as host:
        yield Cli(host, tmp_path)


async def test_install_the_docs_body_then_list_and_show_it(cli: Cli) -> None:
    body = cli.file(
        "body.json", {"name": "Customer.io", "delivery_mode": "server_side", "config": CONFIG}
    )
    code, out, _ = await cli.run("install", "--file", body)
    assert code == 0
    [integration] = cli.host.host.store.list_integrations()
    assert integration.id in out and "********" in out  # the config, secrets masked
    code, out, _ = await cli.run("list")
    assert code == 0
    row = next(line for line in out.splitlines() if integration.id in line)
    assert "Customer.io" in row and "active" in row and "0/0/0" in row
    listed = await cli.json("list")
    assert [(i["id"], i["status"], i["deliveries"]["pending"]) for i in listed] == [
        (integration.id, "active", 0)
    ]
    shown = await cli.json("show", integration.id)
    assert shown["revision"]["config"]["tracking_api_key"] == "********"
    catalog = await cli.json("catalog")
    assert [entry["key"] for entry in catalog] == ["customer_io"]
    code, out, _ = await cli.run("catalog")
    assert code == 0 and "customer_io" in out and "pipelines" in out


async def test_install_verifies_by_default_and_names_the_right_region(cli: Cli) -> None:
    config = cli.file("config.json", CONFIG)
    code, _, err = await cli.run(
        "install", "--name", "wrong", "--config", config, "--set", "region=eu"
    )
    assert code == 1
    assert "verification_failed" in err and "set region to 'us'" in err
    assert cli.host.host.store.list_integrations() == []
    skipped = await cli.json(
        "install", "--name", "unchecked", "--config", config, "--set", "region=eu", "--no-verify"
    )
    assert skipped["revision"]["config"]["region"] == "eu"


async def test_a_duplicate_install_is_refused_unless_allowed(cli: Cli) -> None:
    first = await cli.install()
    code, out, err = await cli.run(
        "install", "--file", cli.file("b.json", {"name": "again", "config": CONFIG}), "--json"
    )
    assert code == 1 and "duplicate_integration" in err
    assert json.loads(out)["error"]["details"][0]["integration_id"] == first
    second = await cli.install("--allow-duplicate")
    assert second != first and len(cli.host.host.store.list_integrations()) == 2


async def test_revise_disable_enable_and_resume(cli: Cli) -> None:
    iid = await cli.install()
    revised = await cli.json("revise", iid, "--set", "timeout_seconds=5", "--base", "1")
    assert revised["revision"]["number"] == 2
    assert revised["revision"]["config"]["timeout_seconds"] == 5
    stale = await cli.json("revise", iid, "--set", "timeout_seconds=6", "--base", "1", code=1)
    assert stale["error"]["code"] == "stale_revision"
    code, out, _ = await cli.run("disable", iid)
    assert (code, out.strip()) == (0, f"{iid} is disabled")
    assert (await cli.json("enable", iid))["status"] == "active"
    assert (await cli.json("resume", iid))["status"] == "active"
    code, _, err = await cli.run("revise", iid)
    assert code == 2 and "nothing to change" in err


async def test_deliveries_filter_and_replay_names_the_unknown_ids(cli: Cli) -> None:
    iid = await cli.install()
    nobody = {"type": "identify", "messageId": "nobody", "traits": {"plan": "pro"}}
    await cli.host.send([nobody, track(1), track(2)])
    await cli.host.worker.drain()
    dead = await cli.json("deliveries", iid, "--status", "dead_lettered")
    assert [(d["message_id"], d["reason"]["code"]) for d in dead["data"]] == [
        ("nobody", "missing_identifier")
    ]
    assert dead["counts"] == {"pending": 0, "delivered": 2, "filtered": 0, "dead_lettered": 1}
    code, out, _ = await cli.run("deliveries", iid)
    assert code == 0 and "missing_identifier" in out and "msg-2" in out
    one = await cli.json("deliveries", iid, "--limit", "1")
    assert [d["message_id"] for d in one["data"]] == ["msg-2"]  # newest first
    [delivered_id] = [
        d["id"]
        for d in (await cli.json("deliveries", iid, "--all"))["data"]
        if d["message_id"] == "msg-1"
    ]
    replayed = await cli.json(
        "replay", iid, "--message-id", "nobody", "--message-id", "ghost",
        "--delivery-id", "999999", "--delivery-id", str(delivered_id), code=1,
    )  # fmt: skip
    assert replayed["requeued"] == 1
    assert replayed["unknown"] == {"delivery_ids": [999999], "message_ids": ["ghost"]}
    assert replayed["not_replayed"] == [
        {"delivery_id": delivered_id, "message_id": "msg-1", "status": "delivered"}
    ]
    code, out, _ = await cli.run("replay", iid, "--all")
    assert code == 0 and out.strip() == "requeued 0"  # the one dead letter is pending again
    code, _, err = await cli.run("replay", iid)
    assert code == 2 and "--all" in err


async def test_delete_keeps_the_records_and_refuses_changes_after(cli: Cli) -> None:
    iid = await cli.install()
    await cli.host.send([track(1)])
    code, _, err = await cli.run("delete", iid)
    assert code == 2 and "--yes" in err
    code, out, _ = await cli.run("delete", iid, "--yes")
    assert code == 0 and f"deleted {iid}" in out and "1 pending delivery dead-lettered" in out
    assert await cli.json("list") == []
    shown = await cli.json("show", iid)
    assert shown["status"] == "deleted" and shown["deleted_at"] is not None
    [kept] = (await cli.json("deliveries", iid))["data"]
    assert (kept["status"], kept["reason"]["code"]) == ("dead_lettered", "integration_deleted")
    refused = await cli.json("enable", iid, code=1)
    assert refused["error"]["code"] == "integration_deleted"
    await cli.host.send([track(2)])  # a deleted integration gets no new events
    assert len((await cli.json("deliveries", iid))["data"]) == 1
    again = await cli.json("delete", iid, "--yes")
    assert again["dead_lettered"] == 0 and again["status"] == "deleted"


async def test_a_test_event_shows_its_requests_and_exits_1_when_not_delivered(
    cli: Cli, emulator: EmulatorState
) -> None:
    iid = await cli.install()
    code, out, _ = await cli.run("test-event", iid, "--type", "identify", "--user-id", "u-7")
    assert code == 0 and "delivered" in out and "200" in out and "/api/v2/batch" in out
    assert emulator.person_view(US.site_id, "u-7") is not None
    nobody = cli.file("event.json", {"type": "identify", "traits": {"plan": "pro"}})
    record = await cli.json("test-event", iid, "--file", nobody, code=1)
    assert record["status"] == "dead_lettered" and record["reason"]["code"] == "missing_identifier"


async def test_exit_codes_for_refused_token_missing_token_and_unknown_ids(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = await cli.run("show", "int_nope")
    assert code == 1 and "not_found" in err
    code, _, err = await cli.run("list", "--token", "not-the-token")
    assert code == 3 and "refused the admin token" in err
    monkeypatch.delenv("SIGNAL_ADMIN_TOKEN")
    code, _, err = await cli.run("list")
    assert code == 2 and "SIGNAL_ADMIN_TOKEN" in err
    code, _, err = await cli.run(
        "install", "--config", str(cli.tmp / "missing.json"), "--name", "x", "--token", "t"
    )
    assert code == 2 and "cannot read config" in err


def test_an_unreachable_host_exits_3_from_the_real_command() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens there
    command = [sys.executable, "-m", "signal_dest_cio.cli", "admin", "list"]
    result = subprocess.run(
        [*command, "--url", f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"SIGNAL_ADMIN_TOKEN": "some-token", "PATH": ""},
        check=False,
    )
    assert result.returncode == 3, result.stderr
    assert "cannot reach the host" in result.stderr and "some-token" not in result.stderr


async def check(config: dict[str, Any], tmp: Path, *flags: str, transport: Any = None) -> Any:
    from signal_dest_cio.check_cli import check_command

    path = tmp / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    args = build_parser().parse_args(["check", "--config", str(path), *flags])
    out, err = io.StringIO(), io.StringIO()
    code = await check_command(args, transport=transport, out=out, err=err)
    for secret in SECRETS:
        assert secret not in out.getvalue() + err.getvalue()
    return code, out.getvalue(), err.getvalue()


async def test_check_reports_each_credential_and_the_real_region(
    emulator: EmulatorState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    to_emulator = httpx.ASGITransport(app=app_for(emulator, "us"))
    code, out, _ = await check(CONFIG, tmp_path, transport=to_emulator)
    assert code == 0 and "all checks passed" in out
    assert {"track_credentials", "region", "app_key"} <= set(out.split())
    code, out, _ = await check({**CONFIG, "region": "eu"}, tmp_path, transport=to_emulator)
    assert code == 1 and "FAILED" in out and "set region to 'us'" in out
    assert "configured region: EU; the workspace's region: US" in out
    code, out, _ = await check(
        {**CONFIG, "api_key": "revoked"}, tmp_path, "--json", transport=to_emulator
    )
    report = json.loads(out)
    assert code == 1 and report["ok"] is False
    assert [(c["name"], c["ok"]) for c in report["checks"]] == [
        ("track_credentials", True),
        ("region", True),
        ("app_key", False),
    ]


async def test_check_exits_3_when_customer_io_cannot_be_reached_and_2_on_a_bad_config(
    tmp_path: Path,
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no route", request=request)

    code, out, _ = await check(CONFIG, tmp_path, transport=httpx.MockTransport(refuse))
    assert code == 3 and "could not reach Customer.io" in out
    code, _, err = await check({**CONFIG, "region": "mars"}, tmp_path)
    assert code == 2 and "config.region" not in err and "region" in err


async def test_deliveries_follow_the_pages_up_to_the_limit_or_all(cli: Cli) -> None:
    iid = await cli.install("--no-verify")
    await cli.host.send([track(n) for n in range(205)])
    some = await cli.json("deliveries", iid, "--limit", "201")
    assert len(some["data"]) == 201 and some["next_cursor"] is not None
    assert len({d["id"] for d in some["data"]}) == 201
    every = await cli.json("deliveries", iid, "--all")
    assert len(every["data"]) == 205 and every["next_cursor"] is None
    bad = cli.file("bad.json", {"name": "x", "config": ["not", "an", "object"]})
    code, _, err = await cli.run("install", "--file", bad)
    assert code == 2 and "must be a JSON object" in err
