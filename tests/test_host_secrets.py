"""Destination secrets never leave the host: not in a response, not in a log line, and not
in clear in the database file (configs are sealed with the vault key)."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import structlog
from cryptography.fernet import Fernet
from host_support import ADMIN, CONFIG, SITE_ID, FakeCustomerIo, running_host, track

from signal_dest_cio.cli import configure_logging
from signal_dest_cio.host.store import Store
from signal_dest_cio.host.vault import Vault, VaultError

TRACK_KEY = CONFIG["tracking_api_key"]
APP_KEY = CONFIG["api_key"]
NEW_KEY = "trk-ROTATED-SECRET-3333"


def secret_forms() -> list[str]:
    forms = [TRACK_KEY, APP_KEY, NEW_KEY]
    for key in (TRACK_KEY, NEW_KEY):
        forms.append(base64.b64encode(f"{SITE_ID}:{key}".encode()).decode())
    return forms


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(stream)  # the CLI's chain, as `signal-cio serve` runs it
    yield stream
    structlog.reset_defaults()


class EchoingTarget(FakeCustomerIo):
    """Refusals quote the credentials they were sent, as a careless relay might."""

    def handle(self, request: httpx.Request) -> httpx.Response:
        response = super().handle(request)
        if response.status_code == 401:
            auth = request.headers.get("authorization", "")
            decoded = base64.b64decode(auth.split()[-1] + "==").decode(errors="replace")
            return httpx.Response(401, json={"meta": {"error": f"refused {auth} ({decoded})"}})
        return response


async def test_a_full_host_flow_never_shows_or_logs_a_secret(
    log_stream: io.StringIO, tmp_path: Path
) -> None:
    target = EchoingTarget()
    texts: list[str] = []
    async with running_host(target.transport, db=str(tmp_path / "host.db")) as host:

        async def call(method: str, path: str, **options: object) -> httpx.Response:
            response = await host.http.request(method, path, headers=ADMIN, **options)  # type: ignore[arg-type]
            texts.append(response.text)
            return response

        install = "/v1/admin/integration-catalog/customer_io/install"
        installed = (
            await call("POST", install + "?verify=true", json={"name": "x", "config": CONFIG})
        ).json()
        base = f"/v1/admin/integrations/{installed['id']}"
        bad = {**CONFIG, "region": "mars", "site_id": ""}
        assert (await call("POST", install, json={"name": "x", "config": bad})).status_code == 422
        await host.send([track(n) for n in range(3)])
        target.track_key = NEW_KEY  # the stored key is revoked mid-stream
        await host.worker.drain()
        await call("POST", base + "/send-test-event")
        await call("POST", base + "/revisions", json={"config": {"tracking_api_key": NEW_KEY}})
        await host.worker.drain()
        await call("GET", base)
        await call("GET", base + "/revisions")
        await call("GET", base + "/deliveries")
        await call("GET", "/v1/admin/integrations")
        await call("POST", base + "/replay")
        paused = [t for t in texts if "invalid_credentials" in t]
        assert paused, "the revoked key was never refused"
    stored = b"".join(path.read_bytes() for path in tmp_path.iterdir() if path.is_file())
    logs = log_stream.getvalue()
    assert '"event": "deliveries"' in logs
    for secret in secret_forms():
        for text in texts:
            assert secret not in text, "a secret leaked into a response"
        assert secret not in logs, "a secret leaked into the logs"
        assert secret.encode() not in stored, "a secret is in clear in the database"
    for line in logs.splitlines():
        json.loads(line)


async def test_the_vault_key_is_needed_to_read_stored_configs(tmp_path: Path) -> None:
    db = str(tmp_path / "host.db")
    target = FakeCustomerIo()
    async with running_host(target.transport, db=db) as host:
        installed = await host.install()
    assert (tmp_path / "host.db.key").stat().st_mode & 0o777 == 0o600
    async with running_host(target.transport, db=db) as same_key:
        assert (await same_key.integration(installed["id"]))["revision"]["number"] == 1
    with pytest.raises(VaultError, match="another key"):
        Store(db, Vault(Fernet.generate_key())).get_revision(installed["id"], 1)
