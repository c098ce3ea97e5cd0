"""The host's SQLite store: integrations, immutable revisions, events and deliveries.

Every write commits before it returns, so an event acknowledged with a 202 is
on disk (WAL, synchronous=FULL). One connection serves the whole process (the
admin API on the server's loop and the delivery worker on its own thread), behind
one lock; the host is one process (the file lock says so), and its worker is the
only one delivering, so leases and the worker registry live in memory
(`local_leases.py`). For many processes, see `pgstore.py`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import IO, Any

from .dbfile import hold_lock, is_file_database, make_private
from .disabled import disabled_columns
from .local_leases import LocalLeases
from .records import (
    Accepted,
    Delivery,
    Integration,
    Revision,
    integration_from,
)
from .schema import create_schema
from .sqlite_deliveries import SqliteDeliveries
from .store_api import Lease, PacerFactory, StaleRevision
from .store_common import LIVE_INTEGRATIONS, column_text, dumps
from .vault import Vault

__all__ = ["SqliteStore", "StaleRevision", "Store"]

ID_SLICE = 500  # ids per `IN (...)`: well under SQLite's 32,766 variables


class SqliteStore(SqliteDeliveries):
    def __init__(
        self, path: str, vault: Vault | None = None, *, inherited_lock: int | None = None
    ) -> None:
        self.path = path
        self.vault = vault or Vault.for_database(path)
        self._lock_file: IO[str] | None = None
        if inherited_lock is not None:  # the host's worker process: its host holds it
            self._lock_file = os.fdopen(inherited_lock, "r+")
        elif is_file_database(path):
            self._lock_file = hold_lock(path)  # a second host process stops here
            make_private(path)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._leases = LocalLeases()
        with self._lock:
            if path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            create_schema(self._db)

    def lock_descriptor(self) -> int | None:
        """The file lock's descriptor, for a worker process to inherit (None: no file)."""
        return None if self._lock_file is None else self._lock_file.fileno()

    def close(self) -> None:
        with self._lock:
            self._db.close()
            if self._lock_file is not None:
                self._lock_file.close()  # releases the database for another process
                self._lock_file = None

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
                " VALUES (?, ?, ?, ?, ?, 1, NULL, 1, ?, ?)",
                (integration_id, name, destination, variant, delivery_mode, now, now),
            )
            db.execute(
                "INSERT INTO revisions (integration_id, number, sealed_config, created_at)"
                " VALUES (?, 1, ?, ?)",
                (integration_id, self.vault.seal(config), now),
            )
        return self._integration(integration_id)

    def add_revision(
        self, integration_id: str, config: dict[str, Any], now: float, base: int | None = None
    ) -> int:
        """Store a new immutable revision, make it current and lift any pause.

        With `base`, only if the current revision still is `base` (else `StaleRevision`
        naming the current one): the check and the write are one transaction.
        """
        with self._transaction() as db:
            (current,) = db.execute(
                "SELECT revision FROM integrations WHERE id = ?", (integration_id,)
            ).fetchone()
            if base is not None and current != base:
                raise StaleRevision(int(current))
            number = current + 1
            db.execute(
                "INSERT INTO revisions (integration_id, number, sealed_config, created_at)"
                " VALUES (?, ?, ?, ?)",
                (integration_id, number, self.vault.seal(config), now),
            )
            db.execute(
                "UPDATE integrations SET revision = ?, paused = NULL, updated_at = ? WHERE id = ?",
                (number, now, integration_id),
            )
        return int(number)

    def check_vault(self) -> None:
        """Raise `VaultError` unless the key opens every stored config (checked at start,
        so a lost or wrong key stops the host rather than fail every read later)."""
        for row in self._rows("SELECT sealed_config FROM revisions"):
            self.vault.open(row["sealed_config"])

    def rotate_vault(self, new: Vault) -> int:
        """Re-seal every stored config with `new`'s key, in one transaction; how many."""
        with self._transaction() as db:
            rows = db.execute("SELECT integration_id, number, sealed_config FROM revisions")
            resealed = [
                (self.vault.reseal(row["sealed_config"], new), row["integration_id"], row["number"])
                for row in rows.fetchall()
            ]
            db.executemany(
                "UPDATE revisions SET sealed_config = ? WHERE integration_id = ? AND number = ?",
                resealed,
            )
        self.vault = new
        return len(resealed)

    def get_integration(self, integration_id: str) -> Integration | None:
        rows = self._rows("SELECT * FROM integrations WHERE id = ?", (integration_id,))
        return integration_from(rows[0]) if rows else None

    def _integration(self, integration_id: str) -> Integration:
        found = self.get_integration(integration_id)
        assert found is not None
        return found

    def list_integrations(self) -> list[Integration]:
        return [integration_from(row) for row in self._rows(LIVE_INTEGRATIONS)]

    def get_revision(self, integration_id: str, number: int) -> Revision | None:
        rows = self._rows(
            "SELECT * FROM revisions WHERE integration_id = ? AND number = ?",
            (integration_id, number),
        )
        return self._revision(rows[0]) if rows else None

    def list_revisions(self, integration_id: str) -> list[Revision]:
        rows = self._rows(
            "SELECT * FROM revisions WHERE integration_id = ? ORDER BY number", (integration_id,)
        )
        return [self._revision(row) for row in rows]

    def _revision(self, row: sqlite3.Row) -> Revision:
        return Revision(
            row["integration_id"],
            row["number"],
            self.vault.open(row["sealed_config"]),
            row["created_at"],
        )

    def set_enabled(self, integration_id: str, enabled: bool, now: float) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE integrations SET enabled = ?, updated_at = ? WHERE id = ?",
                (int(enabled), now, integration_id),
            )

    def set_paused(
        self,
        integration_id: str,
        reason: dict[str, Any] | None,
        now: float,
        *,
        lease: Lease | None = None,
    ) -> None:
        with self._transaction() as db:
            self._leases.check(lease)
            db.execute(
                "UPDATE integrations SET paused = ?, updated_at = ? WHERE id = ?",
                (dumps(reason), now, integration_id),
            )

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
        enabled integration, but those in `exclude` (a source never feeds itself); a
        disabled one gets its record settled as filtered (disabled.py)."""
        batch = list(events)
        with self._transaction() as db:
            listed = [
                (row[0], bool(row[1]))
                for row in db.execute(
                    "SELECT id, enabled FROM integrations WHERE deleted_at IS NULL"
                )
                if row[0] not in exclude
            ]
            targets = [integration for integration, enabled in listed if enabled]
            disabled = [integration for integration, enabled in listed if not enabled]
            # A handful of statements per request, not two per event: which ids are
            # stored already, the new events in one go, their seqs, their deliveries.
            known = self._seqs_of(db, namespace, [message_id for message_id, _ in batch])
            new: dict[str, str] = {}
            for message_id, body in batch:
                if message_id not in known and message_id not in new:
                    new[message_id] = column_text(body)
            db.executemany(
                "INSERT INTO events (namespace, message_id, body, received_at) VALUES (?, ?, ?, ?)",
                [(namespace, message_id, text, now) for message_id, text in new.items()],
            )
            seqs = self._seqs_of(db, namespace, list(new))
            db.executemany(
                "INSERT INTO deliveries (integration_id, event_seq, status, queued_at,"
                " next_attempt_at, created_at, updated_at)"
                " VALUES (?, ?, 'pending', ?, ?, ?, ?)",
                [
                    (target, seqs[message_id], now, now, now, now)
                    for message_id in new
                    for target in targets
                ],
            )
            outcome, history = disabled_columns(now)  # recorded, not sent (disabled.py)
            db.executemany(
                "INSERT INTO deliveries (integration_id, event_seq, status, queued_at,"
                " next_attempt_at, outcome, history, created_at, updated_at)"
                " VALUES (?, ?, 'filtered', ?, ?, ?, ?, ?, ?)",
                [
                    (target, seqs[message_id], now, now, outcome, history, now, now)
                    for message_id in new
                    for target in disabled
                ],
            )
        accepted: list[Accepted] = []
        for message_id, _ in batch:
            fresh = message_id in new
            new.pop(message_id, None)  # a repeat within the request is a duplicate
            accepted.append(Accepted(message_id, duplicate=not fresh))
        return accepted

    @staticmethod
    def _seqs_of(
        db: sqlite3.Connection, namespace: str, message_ids: Sequence[str]
    ) -> dict[str, int]:
        found: dict[str, int] = {}
        for start in range(0, len(message_ids), ID_SLICE):
            part = message_ids[start : start + ID_SLICE]
            marks = ",".join("?" * len(part))
            for message_id, seq in db.execute(
                "SELECT message_id, seq FROM events"
                f" WHERE namespace = ? AND message_id IN ({marks})",
                [namespace, *part],
            ):
                found[message_id] = seq
        return found

    def record_test_event(
        self, integration_id: str, message_id: str, body: Any, now: float
    ) -> Delivery:
        """A test event is stored like any other, but queued for one integration only, and
        in a namespace of its own: its messageId is never taken from real traffic."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO events (namespace, message_id, body, received_at)"
                " VALUES ('test', ?, ?, ?)",
                (message_id, json.dumps(body, ensure_ascii=False), now),
            )
            delivery = db.execute(
                "INSERT INTO deliveries (integration_id, event_seq, status, queued_at,"
                " next_attempt_at, test, created_at, updated_at)"
                " VALUES (?, ?, 'pending', ?, ?, 1, ?, ?)",
                (integration_id, cursor.lastrowid, now, now, now, now),
            )
        found = self.get_delivery(integration_id, int(delivery.lastrowid or 0))
        assert found is not None
        return found

    # -- one process: leases and the registry in memory, the destination's own pacer ---

    def claim_lease(self, integration_id: str, owner: str, seconds: float) -> Lease | None:
        return self._leases.claim(integration_id, owner, seconds)

    def renew_lease(self, lease: Lease, seconds: float) -> bool:
        return self._leases.renew(lease, seconds)

    def release_lease(self, lease: Lease) -> None:
        self._leases.release(lease)

    def mark_claimed(self, lease: Lease, delivery_ids: Sequence[int]) -> None:
        """Nothing to write: no other process could take these deliveries over."""

    def heartbeat(self, owner: str, seconds: float) -> None:
        self._leases.heartbeat(owner, seconds)

    def live_workers(self) -> list[str]:
        return self._leases.live_workers()

    def forget_worker(self, owner: str) -> None:
        self._leases.forget(owner)

    def request_pacers(self) -> PacerFactory | None:
        return None  # the only process: the destination's own pacer is the whole budget

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Nothing to listen for: all work arrives through this process, which wakes its
        worker itself."""


Store = SqliteStore  # the name the host and its tests have always used
