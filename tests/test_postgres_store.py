"""What many workers on one PostgreSQL database rely on (SPEC 11): one lease holder per
integration, fenced writes, claims that never wait, a request budget shared by every
process, ingestion order equal to commit order, a versioned schema, and several host
processes allowed on one database (where SQLite refuses a second)."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from host_support import (
    ADMIN_TOKEN,
    PG_SECRET_KEY,
    SIGNING_SECRET,
    FakeCustomerIo,
    running_host,
    schema_url,
    track,
)

from signal_dest_cio.host import create_app
from signal_dest_cio.host.leasing import assignment, preferred_worker
from signal_dest_cio.host.pg_coord import SharedPacer
from signal_dest_cio.host.pgschema import VERSION, SchemaTooNew
from signal_dest_cio.host.pgstore import PostgresStore
from signal_dest_cio.host.store_api import LeaseLost
from signal_dest_cio.host.vault import Vault
from signal_dest_cio.pacing import RequestPacer


@pytest.fixture
def db(postgres_server: str) -> str:
    """A database of this test's own (a schema in the session's server)."""
    return schema_url(postgres_server, "store_" + os.urandom(5).hex())


@pytest.fixture
def stores(db: str) -> Iterator[list[PostgresStore]]:
    """Two stores on the same database, each with its own pool: two host processes."""
    opened = [PostgresStore(db, Vault(PG_SECRET_KEY)) for _ in range(2)]
    try:
        yield opened
    finally:
        for store in opened:
            store.close()


def installed(store: PostgresStore, integration_id: str = "int_a") -> str:
    store.create_integration(
        integration_id,
        name="x",
        destination="customer_io",
        variant=None,
        delivery_mode="server_side",
        config={"site_id": "s"},
        now=time.time(),
    )
    return integration_id


def test_one_worker_at_a_time_holds_an_integration_and_a_lost_lease_fences_its_writes(
    stores: list[PostgresStore],
) -> None:
    first, second = stores
    integration = installed(first)
    first.ingest([("m1", track(1))], time.time())
    [delivery] = first.due_deliveries(integration, time.time(), 10)

    lease = first.claim_lease(integration, "worker-a", 1.0)
    assert lease is not None
    assert second.claim_lease(integration, "worker-b", 30) is None  # held: not for two
    first.mark_claimed(lease, [delivery.id])
    assert second.get_delivery(integration, delivery.id).leased_by == "worker-a"  # type: ignore[union-attr]

    time.sleep(1.1)  # worker-a stopped renewing: its lease runs out
    taken = second.claim_lease(integration, "worker-b", 30)
    assert taken is not None and taken.token > lease.token
    assert not first.renew_lease(lease, 30)
    delivery.status = "delivered"
    with pytest.raises(LeaseLost):
        first.save_deliveries([delivery], time.time(), lease=lease)
    with pytest.raises(LeaseLost):
        first.set_paused(integration, {"code": "x"}, time.time(), lease=lease)
    assert second.counts(integration)["pending"] == 1  # nothing of worker-a's round landed
    assert second.get_integration(integration).paused is None  # type: ignore[union-attr]
    second.save_deliveries([delivery], time.time(), lease=taken)
    assert second.counts(integration)["delivered"] == 1
    second.release_lease(taken)
    assert first.claim_lease(integration, "worker-a", 30) is not None  # released: free


def test_a_claim_never_waits_for_another_workers_claim(
    stores: list[PostgresStore], db: str
) -> None:
    first, _ = stores
    integration = installed(first)
    with psycopg.connect(db) as conn:  # another worker, mid-claim (its row lock held)
        conn.execute(
            "SELECT 1 FROM integration_leases WHERE integration_id = %s FOR UPDATE",
            (integration,),
        )
        started = time.monotonic()
        assert first.claim_lease(integration, "worker-a", 30) is None  # SKIP LOCKED
        assert time.monotonic() - started < 1.0
    assert first.claim_lease(integration, "worker-a", 30) is not None


def test_every_process_takes_its_requests_slots_from_one_budget(
    stores: list[PostgresStore],
) -> None:
    """Slots taken at once by two processes (threads on two pools) never come closer
    than the workspace's interval: exactly one budget, whoever asks."""
    interval = 1 / 200
    slots: list[float] = []
    lock = threading.Lock()

    def take(store: PostgresStore) -> None:
        for _ in range(25):
            _, reserved = store._coord.take_slot("https://track.customer.io site-0", interval)
            with lock:
                slots.append(reserved - interval)

    threads = [threading.Thread(target=take, args=(stores[n % 2],)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    slots.sort()
    gaps = [later - earlier for earlier, later in itertools.pairwise(slots)]
    assert len(slots) == 100 and min(gaps) >= interval * 0.999


async def test_the_request_budget_of_a_workspace_is_shared_by_every_process(
    stores: list[PostgresStore],
) -> None:
    rate, requests = 20.0, 30
    pacers = [store.request_pacers() for store in stores]
    assert all(p is not None for p in pacers)
    shared = [p("https://track.customer.io site-1", rate) for p in pacers if p is not None]

    began = time.monotonic()
    await asyncio.gather(*(shared[n % 2].wait() for n in range(requests)))
    # Two processes with a pacer each would be done in half the time (15 requests
    # each at 20/s): together they keep to one budget, the last start 29 slots on.
    assert time.monotonic() - began >= (requests - 1) / rate - 0.05


async def test_a_cancelled_shared_wait_gives_its_slot_back(stores: list[PostgresStore]) -> None:
    factory = stores[0].request_pacers()
    assert factory is not None
    pacer = factory("https://track.customer.io site-2", 2.0)
    assert isinstance(pacer, SharedPacer)
    await pacer.wait()  # the first slot is now; the next is 0.5 s away
    waiter = asyncio.create_task(pacer.wait())
    await asyncio.sleep(0.1)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    started = time.monotonic()
    await pacer.wait()  # takes the returned slot, not one after it
    assert time.monotonic() - started < 0.5


async def test_the_host_hands_its_destinations_the_shared_pacer_on_postgresql_only(
    db: str,
) -> None:
    target = FakeCustomerIo()
    async with running_host(target.transport, db=db, secret_key=PG_SECRET_KEY) as host:
        installed_ = await host.install()
        integration = host.host.store.get_integration(installed_["id"])
        destination, _ = await host.host.pool.current(integration)
        assert isinstance(destination._track_client().pacer, SharedPacer)
    async with running_host(target.transport) as host:  # SQLite: the destination's own
        installed_ = await host.install()
        integration = host.host.store.get_integration(installed_["id"])
        destination, _ = await host.host.pool.current(integration)
        assert isinstance(destination._track_client().pacer, RequestPacer)


def test_ingestion_order_is_the_order_events_become_visible(stores: list[PostgresStore]) -> None:
    """A walker must never see event n+1 before event n: an event that appears later
    always has a later seq than everything seen before it."""
    installed(stores[0])
    done = threading.Event()
    problems: list[str] = []

    def write(store: PostgresStore, worker: int) -> None:
        for n in range(40):
            store.ingest([(f"w{worker}-{n}", track(n))], time.time())

    def watch() -> None:
        seen: set[int] = set()
        with psycopg.connect(stores[0].url, autocommit=True) as conn:
            while not done.is_set():
                now = {row[0] for row in conn.execute("SELECT seq FROM events")}
                new = now - seen
                if seen and new and min(new) < max(seen):
                    problems.append(f"seq {min(new)} appeared after {max(seen)}")
                seen |= now

    writers = [threading.Thread(target=write, args=(stores[n % 2], n)) for n in range(4)]
    watcher = threading.Thread(target=watch)
    watcher.start()
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    done.set()
    watcher.join()
    assert problems == []
    assert stores[1].counts("int_a")["pending"] == 160


def test_the_schema_is_versioned_migrated_once_and_a_newer_one_is_refused(
    stores: list[PostgresStore], db: str
) -> None:
    PostgresStore(db, Vault(PG_SECRET_KEY)).close()  # a third start: nothing to do
    with psycopg.connect(db, autocommit=True) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_version")]
        assert versions == list(range(1, VERSION + 1))
        conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (VERSION + 1,))
    with pytest.raises(SchemaTooNew, match="newer than this host"):
        PostgresStore(db, Vault(PG_SECRET_KEY))


def test_host_processes_starting_together_on_an_empty_database_create_it_once(
    postgres_server: str,
) -> None:
    db = schema_url(postgres_server, "race_" + os.urandom(5).hex())
    errors: list[BaseException] = []

    def start() -> None:
        try:
            PostgresStore(db, Vault(PG_SECRET_KEY)).close()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_several_hosts_may_share_one_postgresql_database(db: str) -> None:
    apps = [
        create_app(db=db, admin_token="t", signing_secret="s", secret_key=PG_SECRET_KEY,
                   run_worker=False)
        for _ in range(2)
    ]  # fmt: skip
    for app in apps:
        app.state.host.store.close()


def test_serve_on_postgresql_without_a_shared_secret_key_refuses_to_start(db: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SIGNAL_SECRET_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "signal_dest_cio.cli", "serve", "--db", db, "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "SIGNAL_ADMIN_TOKEN": ADMIN_TOKEN, "SIGNAL_SIGNING_SECRET": SIGNING_SECRET},
    )
    assert result.returncode == 2
    assert "SIGNAL_SECRET_KEY" in result.stderr


def test_serve_says_so_when_the_database_cannot_be_reached() -> None:
    port = 1  # nothing listens there
    result = subprocess.run(
        [sys.executable, "-m", "signal_dest_cio.cli", "serve", "--port", "0",
         "--db", f"postgresql://postgres@127.0.0.1:{port}/postgres?connect_timeout=2"],
        capture_output=True, text=True, timeout=90,
        env={**os.environ, "SIGNAL_ADMIN_TOKEN": "t", "SIGNAL_SIGNING_SECRET": "s",
             "SIGNAL_SECRET_KEY": PG_SECRET_KEY},
    )  # fmt: skip
    assert result.returncode == 2
    assert "cannot open the database" in result.stderr


def test_workers_share_integrations_evenly_and_a_dead_workers_share_moves_on() -> None:
    integrations = [f"int_{n:02d}" for n in range(8)]
    workers = ["host-a:1:aa", "host-b:2:bb", "host-c:3:cc", "host-d:4:dd"]
    owners = assignment(integrations, workers)
    assert owners == assignment(list(reversed(integrations)), sorted(workers))  # all agree
    assert sorted(list(owners.values()).count(w) for w in workers) == [2, 2, 2, 2]
    after = assignment(integrations, workers[:3])
    assert set(after.values()) == set(workers[:3])
    assert max(list(after.values()).count(w) for w in workers[:3]) == 3
    assert all(preferred_worker(i, workers) in workers for i in integrations)


def test_rotate_key_reseals_a_postgresql_database_in_place(db: str) -> None:
    from cryptography.fernet import Fernet

    new_key = Fernet.generate_key().decode()
    store = PostgresStore(db, Vault(PG_SECRET_KEY))
    installed(store)
    store.close()
    result = subprocess.run(
        [sys.executable, "-m", "signal_dest_cio.cli", "rotate-key", "--db", db],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SIGNAL_SECRET_KEY": PG_SECRET_KEY, "SIGNAL_NEW_SECRET_KEY": new_key},
    )
    assert result.returncode == 0, result.stderr
    assert "set SIGNAL_SECRET_KEY to the new key" in result.stdout
    rotated = PostgresStore(db, Vault(new_key))
    try:
        rotated.check_vault()
        assert rotated.get_revision("int_a", 1).config == {"site_id": "s"}  # type: ignore[union-attr]
    finally:
        rotated.close()
