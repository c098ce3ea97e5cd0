"""The host's PostgreSQL store: the same rows as SQLite, for many host processes at once.

`signal-cio serve --db postgresql://...` on any number of machines: each process has
a pool of connections (psycopg 3, `psycopg_pool`), takes ingestion and admin calls,
and delivers; `pg_coord.py` is what they share to do it without stepping on each
other. Every method is one transaction, committed before it returns.

Ingestion order is the order events commit, across processes: an ingest takes a
transaction-scoped advisory lock, so a later `seq` is never visible before an
earlier one (a worker walking a lane must never see event 11 and then, later, 10).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

import psycopg
import structlog
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from .disabled import disabled_columns
from .pg_coord import PgCoordination
from .pg_deliveries import PgDeliveries
from .pgschema import migrate
from .records import Accepted, Delivery, Integration, Revision, integration_from
from .store_api import Lease, PacerFactory, StaleRevision
from .store_common import LIVE_INTEGRATIONS, column_text, dumps
from .vault import Vault

# Connections per process: the server's threads, the worker, its pacer threads. The
# database's max_connections bounds processes x POOL_MAX.
POOL_MAX = 16
_log = structlog.get_logger("signal_dest_cio.host", component="store")
INGEST_LOCK = "SELECT pg_advisory_xact_lock(hashtext('signal-cio:ingest:' || current_schema()))"


class PostgresStore(PgDeliveries):
    def __init__(self, url: str, vault: Vault | None = None, *, max_size: int = POOL_MAX) -> None:
        self.url = url
        self.vault = vault or Vault.for_database(url)
        # One connection first: an unreachable server or a bad password fails here, at
        # once and saying why, and the schema is brought up to date before any work.
        with psycopg.connect(url, row_factory=dict_row) as conn:
            migrate(conn)
            (schema,) = conn.execute("SELECT current_schema() AS s").fetchall()
        # Work for other processes (events, a replay, a resume) wakes them at once.
        self._channel = "signal_cio_" + hashlib.sha256(str(schema["s"]).encode()).hexdigest()[:16]
        self._closed = threading.Event()
        self._pool: ConnectionPool[Any] = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={"row_factory": dict_row},
            open=False,
            name="signal-host",
        )
        self._pool.open(wait=True, timeout=30)
        self._coord = PgCoordination(self._pool)

    def lock_descriptor(self) -> int | None:
        return None  # many processes share a PostgreSQL database; leases order them

    def close(self) -> None:
        self._closed.set()
        self._pool.close()

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Call `callback` (from a thread of its own) whenever any process says there is
        work: LISTEN on a connection apart from the pool, back again after a failure."""
        threading.Thread(
            target=self._listen, args=(callback,), name="signal-listen", daemon=True
        ).start()

    def _listen(self, callback: Callable[[], None]) -> None:
        while not self._closed.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    conn.execute(f'LISTEN "{self._channel}"')
                    callback()  # whatever was said while not listening
                    while not self._closed.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            callback()
            except Exception:
                _log.warning("listening for work failed; polling until it is back")
                self._closed.wait(1.0)

    # -- integrations and revisions -------------------------------------------------

    def create_integration(
        self,
        integration_id: str,
        *,
        name: str,
        destination: str,
        variant: str | None,
        delivery_mode: str,
        config: dict[str, Any],
        now: float,
    ) -> Integration:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO integrations (id, name, destination, variant, delivery_mode,"
                " enabled, paused, revision, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, TRUE, NULL, 1, %s, %s)",
                (integration_id, name, destination, variant, delivery_mode, now, now),
            )
            db.execute(
                "INSERT INTO revisions (integration_id, number, sealed_config, created_at)"
                " VALUES (%s, 1, %s, %s)",
                (integration_id, self.vault.seal(config), now),
            )
            db.execute(
                "INSERT INTO integration_leases (integration_id) VALUES (%s)", (integration_id,)
            )
            self._notify(db)
        found = self.get_integration(integration_id)
        assert found is not None
        return found

    def add_revision(
        self, integration_id: str, config: dict[str, Any], now: float, base: int | None = None
    ) -> int:
        """A new immutable revision, current at once, lifting any pause; with `base`, only
        if that is still current (the row lock makes check and write one step)."""
        with self._transaction() as db:
            (row,) = db.execute(
                "SELECT revision FROM integrations WHERE id = %s FOR UPDATE", (integration_id,)
            ).fetchall()
            current = int(row["revision"])
            if base is not None and current != base:
                raise StaleRevision(current)
            number = current + 1
            db.execute(
                "INSERT INTO revisions (integration_id, number, sealed_config, created_at)"
                " VALUES (%s, %s, %s, %s)",
                (integration_id, number, self.vault.seal(config), now),
            )
            db.execute(
                "UPDATE integrations SET revision = %s, paused = NULL, updated_at = %s"
                " WHERE id = %s",
                (number, now, integration_id),
            )
            self._notify(db)
        return number

    def check_vault(self) -> None:
        for row in self._rows("SELECT sealed_config FROM revisions"):
            self.vault.open(row["sealed_config"])

    def rotate_vault(self, new: Vault) -> int:
        with self._transaction() as db:
            rows = db.execute(
                "SELECT integration_id, number, sealed_config FROM revisions FOR UPDATE"
            ).fetchall()
            resealed = [
                (self.vault.reseal(r["sealed_config"], new), r["integration_id"], r["number"])
                for r in rows
            ]
            with db.cursor() as cursor:
                cursor.executemany(
                    "UPDATE revisions SET sealed_config = %s"
                    " WHERE integration_id = %s AND number = %s",
                    resealed,
                )
        self.vault = new
        return len(resealed)

    def get_integration(self, integration_id: str) -> Integration | None:
        rows = self._rows("SELECT * FROM integrations WHERE id = %s", (integration_id,))
        return integration_from(rows[0]) if rows else None

    def list_integrations(self) -> list[Integration]:
        return [integration_from(r) for r in self._rows(LIVE_INTEGRATIONS)]

    def get_revision(self, integration_id: str, number: int) -> Revision | None:
        rows = self._rows(
            "SELECT * FROM revisions WHERE integration_id = %s AND number = %s",
            (integration_id, number),
        )
        return self._revision(rows[0]) if rows else None

    def list_revisions(self, integration_id: str) -> list[Revision]:
        rows = self._rows(
            "SELECT * FROM revisions WHERE integration_id = %s ORDER BY number", (integration_id,)
        )
        return [self._revision(row) for row in rows]

    def _revision(self, row: Any) -> Revision:
        return Revision(
            row["integration_id"],
            row["number"],
            self.vault.open(row["sealed_config"]),
            row["created_at"],
        )

    def set_enabled(self, integration_id: str, enabled: bool, now: float) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE integrations SET enabled = %s, updated_at = %s WHERE id = %s",
                (enabled, now, integration_id),
            )
            self._notify(db)

    def set_paused(
        self,
        integration_id: str,
        reason: dict[str, Any] | None,
        now: float,
        *,
        lease: Lease | None = None,
    ) -> None:
        with self._transaction() as db:
            self._coord.fence(db, lease)
            db.execute(
                "UPDATE integrations SET paused = %s, updated_at = %s WHERE id = %s",
                (dumps(reason), now, integration_id),
            )
            if reason is None:  # resumed
                self._notify(db)

    # -- events -----------------------------------------------------------------------

    def ingest(
        self,
        events: Iterable[tuple[str, Any]],
        now: float,
        *,
        namespace: str = "live",
        exclude: Collection[str] = (),
    ) -> list[Accepted]:
        """Store events (once per messageId within `namespace`) and queue one delivery per
        enabled integration but those in `exclude` (a disabled one: its record settled as
        filtered, disabled.py); a few statements, whatever the count."""
        given = list(events)
        with self._transaction() as db:
            db.execute(INGEST_LOCK)
            listed = [
                (row["id"], bool(row["enabled"]))
                for row in db.execute(
                    "SELECT id, enabled FROM integrations WHERE deleted_at IS NULL"
                ).fetchall()
                if row["id"] not in exclude
            ]
            targets = [integration for integration, enabled in listed if enabled]
            disabled = [integration for integration, enabled in listed if not enabled]
            stored = db.execute(
                "INSERT INTO events (namespace, message_id, body, received_at)"
                " SELECT %s, m, b, %s FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY"
                " AS given(m, b, n) ORDER BY n"
                " ON CONFLICT (namespace, message_id) DO NOTHING RETURNING seq, message_id",
                (
                    namespace,
                    now,
                    [message_id for message_id, _ in given],
                    [column_text(body) for _, body in given],
                ),
            ).fetchall()
            new = {row["message_id"]: row["seq"] for row in stored}
            if new and targets:
                db.execute(
                    "INSERT INTO deliveries (integration_id, event_seq, status, queued_at,"
                    " next_attempt_at, created_at, updated_at)"
                    " SELECT t, s, 'pending', %s, %s, %s, %s"
                    " FROM unnest(%s::bigint[]) AS e(s) CROSS JOIN unnest(%s::text[]) AS i(t)"
                    " ORDER BY s, t",
                    (now, now, now, now, sorted(new.values()), targets),
                )
                self._notify(db)
            if new and disabled:  # recorded, not sent (disabled.py)
                outcome, history = disabled_columns(now)
                db.execute(
                    "INSERT INTO deliveries (integration_id, event_seq, status, queued_at,"
                    " next_attempt_at, outcome, history, created_at, updated_at)"
                    " SELECT t, s, 'filtered', %s, %s, %s, %s, %s, %s"
                    " FROM unnest(%s::bigint[]) AS e(s) CROSS JOIN unnest(%s::text[]) AS i(t)"
                    " ORDER BY s, t",
                    (now, now, outcome, history, now, now, sorted(new.values()), disabled),
                )
        accepted: list[Accepted] = []
        for message_id, _ in given:
            first = new.pop(message_id, None) is not None  # a repeat in the batch: duplicate
            accepted.append(Accepted(message_id, duplicate=not first))
        return accepted

    def record_test_event(
        self, integration_id: str, message_id: str, body: Any, now: float
    ) -> Delivery:
        with self._transaction() as db:
            db.execute(INGEST_LOCK)
            (event,) = db.execute(
                "INSERT INTO events (namespace, message_id, body, received_at)"
                " VALUES ('test', %s, %s, %s) RETURNING seq",
                (message_id, json.dumps(body, ensure_ascii=False), now),
            ).fetchall()
            (delivery,) = db.execute(
                "INSERT INTO deliveries (integration_id, event_seq, status, queued_at,"
                " next_attempt_at, test, created_at, updated_at)"
                " VALUES (%s, %s, 'pending', %s, %s, TRUE, %s, %s) RETURNING id",
                (integration_id, event["seq"], now, now, now, now),
            ).fetchall()
        found = self.get_delivery(integration_id, int(delivery["id"]))
        assert found is not None
        return found

    # -- many workers --------------------------------------------------------------------

    def claim_lease(self, integration_id: str, owner: str, seconds: float) -> Lease | None:
        return self._coord.claim(integration_id, owner, seconds)

    def renew_lease(self, lease: Lease, seconds: float) -> bool:
        return self._coord.renew(lease, seconds)

    def release_lease(self, lease: Lease) -> None:
        self._coord.release(lease)

    def mark_claimed(self, lease: Lease, delivery_ids: Sequence[int]) -> None:
        self._coord.mark_claimed(lease, delivery_ids)

    def heartbeat(self, owner: str, seconds: float) -> None:
        self._coord.heartbeat(owner, seconds)

    def live_workers(self) -> list[str]:
        return self._coord.live_workers()

    def forget_worker(self, owner: str) -> None:
        self._coord.forget(owner)

    def request_pacers(self) -> PacerFactory | None:
        return self._coord.pacers()
