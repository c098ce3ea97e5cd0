"""Shared pieces of the host tests (not a test module): a fake Customer.io, an app, helpers.

`FakeCustomerIo` answers the few Track and App API calls the destination makes,
deduplicates by the items' `id` the way Customer.io does, and fails on demand
(statuses with Retry-After, timeouts, a revoked key).

Both stores: a test that takes the `host` fixture, or the `store_backend` fixture, runs
once on SQLite and once on PostgreSQL (SPEC 11: the same suite against both). On
PostgreSQL, `running_host`'s `db` names a schema of its own in the test cluster
(`postgres_server`: SIGNAL_TEST_POSTGRES, else a throwaway cluster started for the
session): `:memory:` a fresh one, a file path the same one each time (a restart).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from signal_dest_cio.host import ManualClock, RetryPolicy, create_app, sign
from signal_dest_cio.host.pg_local import LocalCluster, find_binaries

ADMIN_TOKEN = "admin-token-for-host-tests"
SIGNING_SECRET = "signing-secret-for-host-tests"
SITE_ID = "site-host-1"
TRACK_KEY = "trk-HOST-SECRET-1111"
APP_KEY = "app-HOST-SECRET-2222"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# On PostgreSQL the vault key is a setting, never a file: the tests' one.
PG_SECRET_KEY = "pFQG2lYbD3yCqk8wL2lJ3kGmT1c3t6V0lq0r4dGpG5w="
POSTGRES_ENV = "SIGNAL_TEST_POSTGRES"
# A fast pace, so the destination's own rate limit does not slow the tests.
CONFIG: dict[str, Any] = {
    "site_id": SITE_ID,
    "tracking_api_key": TRACK_KEY,
    "api_key": APP_KEY,
    "region": "us",
    "max_requests_per_second": 10_000,
}


@dataclass
class Fault:
    kind: str  # "status" or "timeout"
    status: int = 500
    retry_after: str | None = None


@dataclass
class FakeCustomerIo:
    region: str = "us"
    track_key: str = TRACK_KEY
    app_key: str = APP_KEY
    faults: list[Fault] = field(default_factory=list)
    accepted: Counter[str] = field(default_factory=Counter)  # message -> times newly accepted
    received: Counter[str] = field(default_factory=Counter)  # dedup id -> times received
    data_requests: int = 0

    def fail(self, kind: str, count: int = 1, **options: Any) -> None:
        self.faults.extend(Fault(kind, **options) for _ in range(count))

    def transport(self) -> httpx.AsyncBaseTransport:
        return httpx.MockTransport(self.handle)

    def _track_ok(self, request: httpx.Request) -> bool:
        expected = base64.b64encode(f"{SITE_ID}:{self.track_key}".encode()).decode()
        return request.headers.get("authorization") == f"Basic {expected}"

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v1/workspaces":
            ok = request.headers.get("authorization") == f"Bearer {self.app_key}"
            return httpx.Response(200 if ok else 401, json={"workspaces": []})
        if path == "/api/v1/accounts/region":
            if not self._track_ok(request):
                return httpx.Response(401, json={"meta": {"error": "Unauthorized"}})
            return httpx.Response(200, json={"region": self.region})
        self.data_requests += 1
        if self.faults:
            fault = self.faults.pop(0)
            if fault.kind == "timeout":
                raise httpx.ReadTimeout("slow", request=request)
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return httpx.Response(fault.status, headers=headers, json={"meta": {"error": "boom"}})
        if not self._track_ok(request):
            return httpx.Response(401, json={"meta": {"error": "Unauthorized request"}})
        body = json.loads(request.content or b"{}")
        for item in body.get("batch", [body]):
            self._record(item)
        return httpx.Response(200, json={})

    def _record(self, item: dict[str, Any]) -> None:
        dedup = item.get("id")
        if not isinstance(dedup, str):
            return
        self.received[dedup] += 1
        if self.received[dedup] == 1:
            data = item.get("attributes") or item.get("data") or {}
            self.accepted[str(data.get("message", dedup))] += 1


def track(number: int, **fields: Any) -> dict[str, Any]:
    message_id = f"msg-{number}"
    return {
        "type": "track",
        "messageId": message_id,
        "userId": f"user-{number % 7}",
        "event": "feature.used",
        "timestamp": "2026-03-03T14:02:11Z",
        "properties": {"message": message_id},
        **fields,
    }


class HostClient:
    """The app under test, an httpx client on it, and the knobs tests turn."""

    def __init__(self, app: Any, client: httpx.AsyncClient, clock: ManualClock) -> None:
        self.app = app
        self.http = client
        self.clock = clock
        self.host = app.state.host
        self.worker = self.host.worker

    async def install(
        self, status: int = 201, *, verify: bool | None = None, **config: Any
    ) -> dict[str, Any]:
        """Install the test config (`verify`: the query parameter, left out by default)."""
        response = await self.http.post(
            "/v1/admin/integration-catalog/customer_io/install",
            params={} if verify is None else {"verify": str(verify).lower()},
            headers=ADMIN,
            json={"name": "Customer.io", "config": {**CONFIG, **config}},
        )
        assert response.status_code == status, response.text
        result: dict[str, Any] = response.json()
        return result

    async def send(self, events: Any, *, timestamp_ms: int | None = None) -> httpx.Response:
        return await self.send_raw(json.dumps(events).encode(), timestamp_ms=timestamp_ms)

    async def send_raw(self, body: bytes, *, timestamp_ms: int | None = None) -> httpx.Response:
        stamp = int(self.clock.now() * 1000) if timestamp_ms is None else timestamp_ms
        headers = {
            "Content-Type": "application/json",
            "X-Timestamp": str(stamp),
            "X-Signature": sign(SIGNING_SECRET, stamp, body),
        }
        return await self.http.post("/v1/events", content=body, headers=headers)

    async def deliveries(self, integration_id: str, **params: Any) -> list[dict[str, Any]]:
        """Every delivery record of the integration, following the cursor."""
        found: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {"limit": 200, **params, **({"cursor": cursor} if cursor else {})}
            response = await self.http.get(
                f"/v1/admin/integrations/{integration_id}/deliveries", headers=ADMIN, params=query
            )
            assert response.status_code == 200, response.text
            page = response.json()
            found += page["data"]
            cursor = page["next_cursor"]
            if cursor is None:
                return found

    async def integration(self, integration_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/v1/admin/integrations/{integration_id}", headers=ADMIN)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


class _Backend:
    """Which store `running_host` opens: set per test by the `store_backend` fixture."""

    postgres: str | None = None  # the cluster's URL while a PostgreSQL leg runs


def schema_url(base: str, name: str) -> str:
    """`base` with `name` as the search path (created if missing): a database of its own."""
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{name}"')
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{name}"


def store_url(db: str) -> str:
    """The `db` a test asked for, on the store of the running leg."""
    if _Backend.postgres is None:
        return db
    if db == ":memory:":
        name = "t_" + secrets.token_hex(8)
    else:
        name = "t_" + hashlib.sha256(db.encode()).hexdigest()[:16]
    return schema_url(_Backend.postgres, name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server for the session: SIGNAL_TEST_POSTGRES, else a throwaway cluster
    on a loopback port (initdb into a temporary directory, stopped at the end)."""
    given = os.environ.get(POSTGRES_ENV)
    if given:
        yield given
        return
    binaries = find_binaries()
    if binaries is None:
        pytest.skip(
            f"no PostgreSQL server binaries (apt-get install postgresql) and no {POSTGRES_ENV}"
        )
    cluster = LocalCluster(binaries)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test on each store: `running_host` opens the one of this leg."""
    if request.param == "postgresql":
        _Backend.postgres = request.getfixturevalue("postgres_server")
    try:
        yield str(request.param)
    finally:
        _Backend.postgres = None


@asynccontextmanager
async def running_host(
    transport_factory: Callable[[], httpx.AsyncBaseTransport] | None,
    *,
    db: str = ":memory:",
    policy: RetryPolicy | None = None,
    clock: ManualClock | None = None,
    secret_key: str | None = None,
) -> AsyncIterator[HostClient]:
    clock = clock or ManualClock()
    url = store_url(db)
    if url != db and secret_key is None:
        secret_key = PG_SECRET_KEY
    app = create_app(
        db=url,
        admin_token=ADMIN_TOKEN,
        signing_secret=SIGNING_SECRET,
        secret_key=secret_key,
        transport_factory=transport_factory,
        clock=clock,
        policy=policy,
        rng=random.Random(7),
        run_worker=False,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://host.test") as client:
        try:
            yield HostClient(app, client, clock)
        finally:
            await app.state.host.pool.aclose()
            app.state.host.worker.leases.release_all()  # a host stopped: others take over
            app.state.host.store.close()


@pytest.fixture
def target() -> FakeCustomerIo:
    """A fake Customer.io behind the host (MockTransport); tests script its answers."""
    return FakeCustomerIo()


@pytest.fixture
async def host(target: FakeCustomerIo, store_backend: str) -> AsyncIterator[HostClient]:
    """A running host (a fresh store: SQLite in memory, or a PostgreSQL schema) whose
    deliveries go to `target`."""
    async with running_host(target.transport) as running:
        yield running
