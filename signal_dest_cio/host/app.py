"""`create_app`: the reference host as one FastAPI app (store, destinations, worker, routes)."""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pluggy
from fastapi import FastAPI

from .api import admin, ingest
from .app_actions import app_actions
from .auth import new_token
from .backoff import Clock, RetryPolicy
from .discovery import discover_destinations, secret_fields
from .error_handlers import install_error_handlers
from .guard import RequestGuard
from .leasing import DEFAULT_LEASE_SECONDS
from .live import router as live_router
from .live_api import live_api
from .pool import DestinationPool, TransportFactory
from .prometheus import install_metrics
from .service import Host
from .sources import sources
from .store_api import open_store
from .vault import Vault
from .worker import DEFAULT_BATCH_SIZE, DeliveryWorker
from .worker_process import WorkerProcess, settings_for

ADMIN_TOKEN_ENV = "SIGNAL_ADMIN_TOKEN"
SIGNING_SECRET_ENV = "SIGNAL_SIGNING_SECRET"


def create_app(
    *,
    db: str = ":memory:",
    admin_token: str | None = None,
    signing_secret: str | None = None,
    secret_key: str | None = None,
    transport_factory: TransportFactory | None = None,
    clock: Clock | None = None,
    policy: RetryPolicy | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    poll_seconds: float = 1.0,
    rng: random.Random | None = None,
    run_worker: bool = True,
    plugins: pluggy.PluginManager | None = None,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    worker_process: bool = False,
) -> FastAPI:
    """The host app. Tokens default to `SIGNAL_ADMIN_TOKEN` / `SIGNAL_SIGNING_SECRET`,
    else fresh random ones (read them from `app.state`).

    `transport_factory` makes the httpx transport each destination instance sends
    through (tests: `httpx.MockTransport` or the emulator through `ASGITransport`);
    without it destinations use the network. `run_worker=False` leaves delivery to
    explicit `app.state.host.worker.run_once()` / `drain()` calls.

    `db` is a SQLite file (or `:memory:`), or a `postgresql://` URL: then any number of
    host processes may share it, and `lease_seconds` is how long a worker's hold on
    an integration lasts without renewal (how soon a dead worker's work moves on).

    `worker_process=True` (what `signal-cio serve` does) runs the delivery worker in a
    process of its own on the same database, so its CPU never competes with the API
    for the GIL; it needs a database file or URL and the installed destinations and
    network (no `transport_factory`, `clock`, `rng` or `plugins`).
    """
    if worker_process and (
        db == ":memory:" or any(v is not None for v in (transport_factory, clock, rng, plugins))
    ):
        raise ValueError(
            "worker_process=True needs a database file or URL and no transport_factory, "
            "clock, rng or plugins (a process of its own cannot share them)"
        )
    store = open_store(db, Vault.for_database(db, secret_key))
    try:
        store.check_vault()  # a lost or wrong key: refuse to start, say which
    except BaseException:
        store.close()
        raise
    destinations = discover_destinations(plugins)
    pool = DestinationPool(
        store,
        destinations,
        {key: secret_fields(cls) for key, cls in destinations.items()},
        transport_factory,
    )
    worker = DeliveryWorker(
        store,
        pool,
        policy=policy,
        clock=clock,
        batch_size=batch_size,
        poll_seconds=poll_seconds,
        rng=rng,
        lease_seconds=lease_seconds,
    )
    if worker_process:
        worker.child = WorkerProcess(
            settings_for(
                db=db,
                secret_key=secret_key,
                policy=worker.policy,
                batch_size=batch_size,
                poll_seconds=poll_seconds,
                lease_seconds=lease_seconds,
            ),
            lock_fd=store.lock_descriptor(),
        )
    host = Host(store, destinations, pool, worker)
    store.abandon_test_deliveries(worker.clock.now())  # left by a host that stopped mid-test

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if run_worker:
            worker.start()
        try:
            yield
        finally:
            await worker.stop()
            await pool.aclose()

    app = FastAPI(
        title="Signal reference host",
        version="0.1.0",
        description="Catalog, install API, signed event ingestion, delivery with retries, "
        "dead letters and replay, and live events, for Signal destinations.",
        lifespan=lifespan,
    )
    app.state.host = host
    app.state.admin_token = admin_token or os.environ.get(ADMIN_TOKEN_ENV) or new_token()
    app.state.signing_secret = signing_secret or os.environ.get(SIGNING_SECRET_ENV) or new_token()
    install_error_handlers(app)
    app.add_middleware(
        RequestGuard,
        admin_token=lambda: str(app.state.admin_token),
        now_ms=lambda: int(worker.clock.now() * 1000),
        on_refused=lambda source, code: app.state.ingest_counters.refused_early(source, code),
    )
    app.include_router(admin)
    app.include_router(ingest)
    app.include_router(live_router)
    app.include_router(live_api)
    app.include_router(sources)
    app.include_router(app_actions)
    install_metrics(app, host)  # GET /metrics

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, Any]:
        return {"ok": True, "destinations": sorted(destinations)}

    return app
