"""The SQLite store's deliveries: the walk's pages, settling, listing, replay."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from .local_leases import LocalLeases
from .metric_queries import SQLITE, DeliveryMetrics, StateCount, read_counts, read_states
from .records import DELIVERY_STATUSES, Delivery, deliveries_from, delivery_from
from .store_api import Lease
from .store_common import (
    DELIVERY_COLUMNS,
    SELECT_DELIVERY,
    dead_letter_if_deleted,
    delivery_values,
    dumps,
    integration_deleted,
    loads,
    released_history,
    test_interrupted,
)

# Rows per transaction when a round's deliveries are saved. Each commit is an fsync
# (synchronous=FULL): a round of 1,000 saved 100 at a time spends 8-45 ms more than in
# one transaction, but that would hold the write lock ~30 ms, and every request ingested
# meanwhile waits for it. 250 rows (~8 ms each) raised ingestion's p99 at worker batch
# 1,000 from 39 to 61 ms in the benchmark (section 7); 100 rows keep it flat.
SAVE_SLICE = 100


class SqliteDeliveries:
    path: str
    _db: sqlite3.Connection
    _lock: threading.RLock
    _leases: LocalLeases

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

    _SELECT_DELIVERY = SELECT_DELIVERY

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
        return deliveries_from(rows)

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
        return deliveries_from(rows)

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

    def save_deliveries(
        self, deliveries: Iterable[Delivery], now: float, *, lease: Lease | None = None
    ) -> None:
        assignments = ", ".join(f"{column} = ?" for column in DELIVERY_COLUMNS)
        # The rows' JSON is made before the lock is taken, and a long list is written in
        # slices, each its own transaction: ingestion never waits behind a whole batch.
        rows = list(deliveries)
        values = [delivery_values(d, now) for d in rows]
        for start in range(0, len(values), SAVE_SLICE):
            with self._transaction() as db:
                self._leases.check(lease)
                part = rows[start : start + SAVE_SLICE]
                for position in dead_letter_if_deleted(part, _deleted_at(db, part)):
                    values[start + position] = delivery_values(part[position], now)
                db.executemany(
                    f"UPDATE deliveries SET {assignments} WHERE id = ?",
                    values[start : start + SAVE_SLICE],
                )

    def release_held(
        self,
        blocker_ids: Sequence[int],
        now: float,
        dead: Sequence[int],
        *,
        lease: Lease | None = None,
    ) -> None:
        """Whatever waits behind these deliveries (now settled) is due again.

        Behind a dead letter (`dead`), the release is written into the held event's
        history, naming the delivery and message that were given up on.
        """
        if not blocker_ids:
            return
        marks = ",".join("?" * len(blocker_ids))
        with self._transaction() as db:
            self._leases.check(lease)
            rows = db.execute(
                "SELECT d.id, d.held_by, d.history, e.message_id FROM deliveries d"
                " JOIN deliveries h ON h.id = d.held_by JOIN events e ON e.seq = h.event_seq"
                f" WHERE d.held_by IN ({marks}) AND d.status = 'pending'",
                list(blocker_ids),
            ).fetchall()
            updates = [
                (
                    now,
                    dumps(
                        released_history(
                            row["history"],
                            row["held_by"],
                            row["message_id"],
                            row["held_by"] in dead,
                            now,
                        )
                    ),
                    now,
                    row["id"],
                )
                for row in rows
            ]
            db.executemany(
                "UPDATE deliveries SET held_by = NULL, next_attempt_at = ?, history = ?,"
                " updated_at = ? WHERE id = ?",
                updates,
            )

    def abandon_test_deliveries(self, now: float) -> int:
        """Test deliveries left pending by a host that stopped mid-test: dead-lettered."""
        entry = test_interrupted(now)
        with self._transaction() as db:
            rows = db.execute(
                "SELECT id, history FROM deliveries WHERE test = 1 AND status = 'pending'"
            ).fetchall()
            db.executemany(
                "UPDATE deliveries SET status = 'dead_lettered', history = ?, updated_at = ?"
                " WHERE id = ?",
                [(dumps([*(loads(r["history"]) or []), entry]), now, r["id"]) for r in rows],
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
        return deliveries_from(rows)

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

    def delivery_states(
        self, integration_id: str, delivery_ids: Sequence[int], message_ids: Sequence[str]
    ) -> list[tuple[int, str, str]]:
        """(id, message id, status) of the integration's deliveries named either way."""
        ids, messages = list(delivery_ids), list(message_ids)
        rows = self._rows(
            "SELECT d.id, e.message_id, d.status FROM deliveries d"
            " JOIN events e ON e.seq = d.event_seq WHERE d.integration_id = ?"
            f" AND (d.id IN ({','.join('?' * len(ids))})"
            f" OR e.message_id IN ({','.join('?' * len(messages))}))",
            [integration_id, *ids, *messages],
        )
        return [(int(row[0]), str(row[1]), str(row[2])) for row in rows]

    def delete_integration(self, integration_id: str, now: float) -> int:
        """Mark it deleted (and disabled); its pending deliveries are dead-lettered with
        `integration_deleted`, every record kept. How many were pending."""
        entry = integration_deleted(now)
        with self._transaction() as db:
            db.execute(
                "UPDATE integrations SET enabled = 0, deleted_at = ?, updated_at = ?"
                " WHERE id = ? AND deleted_at IS NULL",
                (now, now, integration_id),
            )
            rows = db.execute(
                "SELECT id, history FROM deliveries WHERE integration_id = ?"
                " AND status = 'pending'",
                (integration_id,),
            ).fetchall()
            db.executemany(
                "UPDATE deliveries SET status = 'dead_lettered', held_by = NULL, history = ?,"
                " updated_at = ? WHERE id = ?",
                [(dumps([*(loads(r["history"]) or []), entry]), now, r["id"]) for r in rows],
            )
        return len(rows)

    @contextmanager
    def _metric_reader(self) -> Iterator[Callable[[str, Sequence[Any]], list[Any]]]:
        """A connection of its own for /metrics' scans, so they never hold the store's
        lock (in WAL mode readers and the writer do not wait for each other); a
        `:memory:` database has only the one."""
        if self.path == ":memory:":
            yield self._rows
            return
        conn = sqlite3.connect(f"file:{quote(self.path)}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row

        def rows(sql: str, params: Sequence[Any] = ()) -> list[Any]:
            return conn.execute(sql, params).fetchall()

        try:
            yield rows
        finally:
            conn.close()

    def metric_states(self) -> list[StateCount]:
        with self._metric_reader() as rows:
            return read_states(rows)

    def metric_counts(
        self, *, settled: tuple[float, float] | None, open_after: float
    ) -> DeliveryMetrics:
        with self._metric_reader() as rows:
            return read_counts(rows, SQLITE, settled=settled, open_after=open_after)

    def settled_times(self, integration_id: str, limit: int) -> list[tuple[str, float, float]]:
        """(status, queued_at, updated_at) of the newest `limit` settled non-test deliveries
        per status: one short index walk each, whatever the integration's history."""
        found: list[tuple[str, float, float]] = []
        for status in ("delivered", "filtered", "dead_lettered"):
            rows = self._rows(
                "SELECT queued_at, updated_at FROM deliveries WHERE integration_id = ?"
                " AND status = ? AND test = 0 ORDER BY event_seq DESC LIMIT ?",
                (integration_id, status, limit),
            )
            found += [(status, float(row[0]), float(row[1])) for row in rows]
        return found


def _deleted_at(db: sqlite3.Connection, deliveries: Sequence[Delivery]) -> dict[str, float | None]:
    """When each of these deliveries' integrations was deleted (None: it was not)."""
    ids = sorted({d.integration_id for d in deliveries})
    rows = db.execute(
        f"SELECT id, deleted_at FROM integrations WHERE id IN ({','.join('?' * len(ids))})",
        ids,
    ).fetchall()
    return {row[0]: row[1] for row in rows}
