"""The host's SQLite store: integrations, immutable revisions, events and deliveries.

Every write commits before it returns, so an event acknowledged with a 202 is
on disk (WAL, synchronous=FULL). One connection serves the whole process (the
admin API on the server's loop and the delivery worker on its own thread), behind
one lock; the host is one process, and its worker is the only one delivering.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any

from .dbfile import hold_lock, is_file_database, make_private
from .records import (
    DELIVERY_STATUSES,
    Accepted,
    Delivery,
    Integration,
    Revision,
    delivery_from,
    integration_from,
)
from .schema import create_schema
from .vault import Vault


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


class StaleRevision(Exception):
    """A revision built on one that is no longer current."""

    def __init__(self, current: int) -> None:
        super().__init__(f"the current revision is {current}")
        self.current = current


class Store:
    def __init__(self, path: str, vault: Vault | None = None) -> None:
        self.path = path
        self.vault = vault or Vault.for_database(path)
        self._lock_file: IO[str] | None = None
        if is_file_database(path):
            self._lock_file = hold_lock(path)  # a second host process stops here
            make_private(path)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        with self._lock:
            if path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            create_schema(self._db)

    def close(self) -> None:
        with self._lock:
            self._db.close()
            if self._lock_file is not None:
                self._lock_file.close()  # releases the database for another process
                self._lock_file = None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

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
        return [
            integration_from(row) for row in self._rows("SELECT * FROM integrations ORDER BY id")
        ]

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

    def set_paused(self, integration_id: str, reason: dict[str, Any] | None, now: float) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE integrations SET paused = ?, updated_at = ? WHERE id = ?",
                (_dumps(reason), now, integration_id),
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
        enabled integration, but those in `exclude` (a source never feeds itself)."""
        accepted: list[Accepted] = []
        with self._transaction() as db:
            targets = [
                row[0]
                for row in db.execute("SELECT id FROM integrations WHERE enabled = 1")
                if row[0] not in exclude
            ]
            for message_id, body in events:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO events (namespace, message_id, body, received_at)"
                    " VALUES (?, ?, ?, ?)",
                    (namespace, message_id, json.dumps(body, ensure_ascii=False), now),
                )
                if cursor.rowcount == 0:
                    accepted.append(Accepted(message_id, duplicate=True))
                    continue
                seq = cursor.lastrowid
                db.executemany(
                    "INSERT INTO deliveries (integration_id, event_seq, status, queued_at,"
                    " next_attempt_at, created_at, updated_at)"
                    " VALUES (?, ?, 'pending', ?, ?, ?, ?)",
                    [(target, seq, now, now, now, now) for target in targets],
                )
                accepted.append(Accepted(message_id, duplicate=False))
        return accepted

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

    # -- deliveries -------------------------------------------------------------------

    _SELECT_DELIVERY = (
        "SELECT d.*, e.message_id, e.body, he.message_id AS held_by_message_id"
        " FROM deliveries d JOIN events e ON e.seq = d.event_seq"
        " LEFT JOIN deliveries h ON h.id = d.held_by LEFT JOIN events he ON he.seq = h.event_seq"
    )

    def due_deliveries(
        self, integration_id: str, now: float, limit: int, after_seq: int = 0
    ) -> list[Delivery]:
        """Pending deliveries that are due, in ingestion order, from after `after_seq`."""
        rows = self._rows(
            f"{self._SELECT_DELIVERY} WHERE d.integration_id = ? AND d.status = 'pending'"
            " AND d.test = 0 AND d.next_attempt_at <= ? AND d.event_seq > ?"
            " ORDER BY d.event_seq LIMIT ?",
            (integration_id, now, after_seq, limit),
        )
        return [delivery_from(row) for row in rows]

    def waiting_deliveries(
        self, integration_id: str, now: float, after_seq: int, upto_seq: int
    ) -> list[Delivery]:
        """Pending deliveries not due yet (a retry, or held), ingested in (after, upto]."""
        rows = self._rows(
            f"{self._SELECT_DELIVERY} WHERE d.integration_id = ? AND d.status = 'pending'"
            " AND d.test = 0 AND d.next_attempt_at > ? AND d.event_seq > ? AND d.event_seq <= ?"
            " ORDER BY d.event_seq",
            (integration_id, now, after_seq, upto_seq),
        )
        return [delivery_from(row) for row in rows]

    def next_due_at(self, integration_ids: Sequence[str]) -> float | None:
        if not integration_ids:
            return None
        marks = ",".join("?" * len(integration_ids))
        rows = self._rows(
            "SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending' AND test = 0"
            f" AND integration_id IN ({marks})",
            list(integration_ids),
        )
        value = rows[0][0]
        return None if value is None else float(value)

    def save_deliveries(self, deliveries: Iterable[Delivery], now: float) -> None:
        with self._transaction() as db:
            db.executemany(
                "UPDATE deliveries SET status = ?, attempts = ?, queued_at = ?,"
                " next_attempt_at = ?, outcome = ?, requests = ?, response_status = ?,"
                " revision = ?, history = ?, lane_keys = ?, held_by = ?, retry_seconds = ?,"
                " updated_at = ? WHERE id = ?",
                [
                    (
                        d.status,
                        d.attempts,
                        d.queued_at,
                        d.next_attempt_at,
                        _dumps(d.outcome),
                        _dumps(d.requests),
                        d.response_status,
                        d.revision,
                        _dumps(d.history),
                        _dumps(d.lane_keys),
                        d.held_by,
                        d.retry_seconds,
                        now,
                        d.id,
                    )
                    for d in deliveries
                ],
            )

    def release_held(self, blocker_ids: Sequence[int], now: float, dead: Sequence[int]) -> None:
        """Whatever waits behind these deliveries (now settled) is due again.

        Behind a dead letter (`dead`), the release is written into the held event's
        history, naming the delivery and message that were given up on.
        """
        if not blocker_ids:
            return
        marks = ",".join("?" * len(blocker_ids))
        with self._transaction() as db:
            rows = db.execute(
                "SELECT d.id, d.held_by, d.history, e.message_id FROM deliveries d"
                " JOIN deliveries h ON h.id = d.held_by JOIN events e ON e.seq = h.event_seq"
                f" WHERE d.held_by IN ({marks}) AND d.status = 'pending'",
                list(blocker_ids),
            ).fetchall()
            updates = []
            for row in rows:
                history = _loads(row["history"]) or []
                if row["held_by"] in dead:
                    history.append(
                        {
                            "at": now,
                            "kind": "released",
                            "code": "lane_released",
                            "released_by": {
                                "delivery_id": row["held_by"],
                                "message_id": row["message_id"],
                            },
                            "message": f"{row['message_id']} was dead-lettered; "
                            "this event no longer waits for it",
                        }
                    )
                updates.append((now, _dumps(history), now, row["id"]))
            db.executemany(
                "UPDATE deliveries SET held_by = NULL, next_attempt_at = ?, history = ?,"
                " updated_at = ? WHERE id = ?",
                updates,
            )

    def abandon_test_deliveries(self, now: float) -> int:
        """Test deliveries left pending by a host that stopped mid-test: dead-lettered."""
        entry = {
            "at": now,
            "kind": "rejected",
            "code": "test_interrupted",
            "reason": {
                "code": "test_interrupted",
                "message": "the host stopped before this test event had an outcome",
            },
        }
        with self._transaction() as db:
            rows = db.execute(
                "SELECT id, history FROM deliveries WHERE test = 1 AND status = 'pending'"
            ).fetchall()
            db.executemany(
                "UPDATE deliveries SET status = 'dead_lettered', history = ?, updated_at = ?"
                " WHERE id = ?",
                [(_dumps([*(_loads(r["history"]) or []), entry]), now, r["id"]) for r in rows],
            )
        return len(rows)

    def get_delivery(self, integration_id: str, delivery_id: int) -> Delivery | None:
        rows = self._rows(
            f"{self._SELECT_DELIVERY} WHERE d.integration_id = ? AND d.id = ?",
            (integration_id, delivery_id),
        )
        return delivery_from(rows[0]) if rows else None

    def list_deliveries(
        self,
        integration_id: str,
        *,
        status: str | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[Delivery]:
        """Newest first; `before_id` continues a page (keyset pagination)."""
        sql = f"{self._SELECT_DELIVERY} WHERE d.integration_id = ?"
        params: list[Any] = [integration_id]
        if status is not None:
            sql += " AND d.status = ?"
            params.append(status)
        if before_id is not None:
            sql += " AND d.id < ?"
            params.append(before_id)
        rows = self._rows(sql + " ORDER BY d.id DESC LIMIT ?", [*params, limit])
        return [delivery_from(row) for row in rows]

    def counts(self, integration_id: str) -> dict[str, int]:
        rows = self._rows(
            "SELECT status, COUNT(*) FROM deliveries WHERE integration_id = ? GROUP BY status",
            (integration_id,),
        )
        found = {status: 0 for status in DELIVERY_STATUSES}
        found.update({row[0]: row[1] for row in rows})
        return found

    def requeue_dead_letters(
        self,
        integration_id: str,
        now: float,
        delivery_ids: Sequence[int] | None = None,
        message_ids: Sequence[str] | None = None,
    ) -> list[int]:
        """Dead-lettered deliveries back to pending, with fresh attempt and age budgets."""
        sql = (
            "SELECT d.id FROM deliveries d JOIN events e ON e.seq = d.event_seq"
            " WHERE d.integration_id = ? AND d.status = 'dead_lettered'"
        )
        params: list[Any] = [integration_id]
        if delivery_ids is not None or message_ids is not None:
            ids, messages = list(delivery_ids or ()), list(message_ids or ())
            sql += (
                f" AND (d.id IN ({','.join('?' * len(ids))})"
                f" OR e.message_id IN ({','.join('?' * len(messages))}))"
            )
            params += [*ids, *messages]
        with self._transaction() as db:
            chosen = [row[0] for row in db.execute(sql + " ORDER BY d.id", params)]
            db.executemany(
                "UPDATE deliveries SET status = 'pending', attempts = 0, queued_at = ?,"
                " next_attempt_at = ?, test = 0, held_by = NULL, retry_seconds = 0,"
                " updated_at = ? WHERE id = ?",
                [(now, now, now, delivery_id) for delivery_id in chosen],
            )
        return chosen
