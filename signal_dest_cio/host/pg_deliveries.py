"""The PostgreSQL store's deliveries: the walk's pages, settling, listing, replay.

Writes that settle a worker's round carry its lease and are fenced (`LeaseLost`
once another worker took the integration over): see `pg_coord.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from psycopg_pool import ConnectionPool

from .metric_queries import POSTGRES, DeliveryMetrics, StateCount, read_counts, read_states
from .pg_coord import PgCoordination
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

# Every column a round writes back, for many rows at once: one array per column.
_TYPES = ("text", "integer", "float8", "float8", "text", "text", "integer", "integer", "text",
          "text", "bigint", "float8", "float8")  # fmt: skip
SAVE_DELIVERIES = (
    "UPDATE deliveries AS d SET "
    + ", ".join(f"{column} = v.{column}" for column in DELIVERY_COLUMNS)
    + ", leased_by = NULL, leased_until = NULL FROM unnest("
    + ", ".join(f"%s::{kind}[]" for kind in (*_TYPES, "bigint"))
    + ") AS v("
    + ", ".join((*DELIVERY_COLUMNS, "id"))
    + ") WHERE d.id = v.id"
)
assert len(_TYPES) == len(DELIVERY_COLUMNS)

# A pending test delivery younger than this may still be in another process's hands.
TEST_GRACE_SECONDS = 600.0


class PgDeliveries:
    _pool: ConnectionPool[Any]
    _coord: PgCoordination
    _channel: str  # LISTEN/NOTIFY channel of this database (and schema)

    def _notify(self, db: Any) -> None:
        """Tell every process's worker there is work (sent when the transaction commits)."""
        db.execute("SELECT pg_notify(%s, '')", (self._channel,))

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self._pool.connection() as conn, conn.transaction():
            yield conn

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        with self._pool.connection() as conn:
            return list(conn.execute(sql, params).fetchall())

    def due_deliveries(
        self, integration_id: str, now: float, limit: int, after_seq: int = 0
    ) -> list[Delivery]:
        rows = self._rows(
            f"{SELECT_DELIVERY} WHERE d.integration_id = %s AND d.status = 'pending'"
            " AND NOT d.test AND d.next_attempt_at <= %s AND d.event_seq > %s"
            " ORDER BY d.event_seq LIMIT %s",
            (integration_id, now, after_seq, limit),
        )
        return deliveries_from(rows)

    def waiting_deliveries(
        self, integration_id: str, now: float, after_seq: int, upto_seq: int
    ) -> list[Delivery]:
        rows = self._rows(
            f"{SELECT_DELIVERY} WHERE d.integration_id = %s AND d.status = 'pending'"
            " AND NOT d.test AND d.next_attempt_at > %s AND d.event_seq > %s"
            " AND d.event_seq <= %s ORDER BY d.event_seq",
            (integration_id, now, after_seq, upto_seq),
        )
        return deliveries_from(rows)

    def next_due_at(self, integration_ids: Sequence[str]) -> float | None:
        if not integration_ids:
            return None
        rows = self._rows(
            "SELECT MIN(next_attempt_at) AS due FROM deliveries WHERE status = 'pending'"
            " AND NOT test AND integration_id = ANY(%s)",
            (list(integration_ids),),
        )
        value = rows[0]["due"]
        return None if value is None else float(value)

    def save_deliveries(
        self, deliveries: Iterable[Delivery], now: float, *, lease: Lease | None = None
    ) -> None:
        """Settled, retried or held rows written back, in one statement; whoever claimed
        them lets go."""
        saved = list(deliveries)
        rows = [delivery_values(d, now) for d in saved]
        with self._transaction() as db:
            self._coord.fence(db, lease)
            if not rows:
                return
            # FOR SHARE: a deletion (which updates the integration's row) waits for this
            # write, or this one sees it; either way nothing is left pending behind it.
            deleted = {
                row["id"]: row["deleted_at"]
                for row in db.execute(
                    "SELECT id, deleted_at FROM integrations WHERE id = ANY(%s) FOR SHARE",
                    (sorted({d.integration_id for d in saved}),),
                ).fetchall()
            }
            for position in dead_letter_if_deleted(saved, deleted):
                rows[position] = delivery_values(saved[position], now)
            columns = list(zip(*rows, strict=True))
            db.execute(SAVE_DELIVERIES, [list(column) for column in columns])

    def release_held(
        self,
        blocker_ids: Sequence[int],
        now: float,
        dead: Sequence[int],
        *,
        lease: Lease | None = None,
    ) -> None:
        """Whatever waits behind these settled deliveries is due again (see SqliteStore)."""
        if not blocker_ids:
            return
        with self._transaction() as db:
            self._coord.fence(db, lease)
            rows = db.execute(
                "SELECT d.id, d.held_by, d.history, e.message_id FROM deliveries d"
                " JOIN deliveries h ON h.id = d.held_by JOIN events e ON e.seq = h.event_seq"
                " WHERE d.held_by = ANY(%s) AND d.status = 'pending' FOR UPDATE OF d",
                (list(blocker_ids),),
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
            if updates:
                with db.cursor() as cursor:
                    cursor.executemany(
                        "UPDATE deliveries SET held_by = NULL, next_attempt_at = %s,"
                        " history = %s, updated_at = %s WHERE id = %s",
                        updates,
                    )

    def abandon_test_deliveries(self, now: float) -> int:
        """Test deliveries a stopped host left pending: dead-lettered. Other processes may
        be sending theirs right now, so only those older than any test can take."""
        entry = test_interrupted(now)
        with self._transaction() as db:
            rows = db.execute(
                "SELECT id, history FROM deliveries WHERE test AND status = 'pending'"
                " AND created_at < %s FOR UPDATE SKIP LOCKED",
                (now - TEST_GRACE_SECONDS,),
            ).fetchall()
            if rows:
                with db.cursor() as cursor:
                    cursor.executemany(
                        "UPDATE deliveries SET status = 'dead_lettered', history = %s,"
                        " updated_at = %s WHERE id = %s",
                        [
                            (dumps([*(loads(r["history"]) or []), entry]), now, r["id"])
                            for r in rows
                        ],
                    )
        return len(rows)

    def get_delivery(self, integration_id: str, delivery_id: int) -> Delivery | None:
        rows = self._rows(
            f"{SELECT_DELIVERY} WHERE d.integration_id = %s AND d.id = %s",
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
        sql = f"{SELECT_DELIVERY} WHERE d.integration_id = %s"
        params: list[Any] = [integration_id]
        if status is not None:
            sql += " AND d.status = %s"
            params.append(status)
        if before_id is not None:
            sql += " AND d.id < %s"
            params.append(before_id)
        rows = self._rows(sql + " ORDER BY d.id DESC LIMIT %s", [*params, limit])
        return deliveries_from(rows)

    def counts(self, integration_id: str) -> dict[str, int]:
        rows = self._rows(
            "SELECT status, COUNT(*) AS n FROM deliveries WHERE integration_id = %s"
            " GROUP BY status",
            (integration_id,),
        )
        found = {status: 0 for status in DELIVERY_STATUSES}
        found.update({row["status"]: int(row["n"]) for row in rows})
        return found

    def requeue_dead_letters(
        self,
        integration_id: str,
        now: float,
        delivery_ids: Sequence[int] | None = None,
        message_ids: Sequence[str] | None = None,
    ) -> list[int]:
        sql = (
            "SELECT d.id FROM deliveries d JOIN events e ON e.seq = d.event_seq"
            " WHERE d.integration_id = %s AND d.status = 'dead_lettered'"
        )
        params: list[Any] = [integration_id]
        if delivery_ids is not None or message_ids is not None:
            sql += " AND (d.id = ANY(%s) OR e.message_id = ANY(%s))"
            params += [list(delivery_ids or ()), list(message_ids or ())]
        with self._transaction() as db:
            chosen = [
                int(row["id"])
                for row in db.execute(sql + " ORDER BY d.id FOR UPDATE OF d", params).fetchall()
            ]
            if chosen:
                db.execute(
                    "UPDATE deliveries SET status = 'pending', attempts = 0, queued_at = %s,"
                    " next_attempt_at = %s, test = FALSE, held_by = NULL, retry_seconds = 0,"
                    " leased_by = NULL, leased_until = NULL, updated_at = %s"
                    " WHERE id = ANY(%s)",
                    (now, now, now, chosen),
                )
                self._notify(db)
        return chosen

    def delivery_states(
        self, integration_id: str, delivery_ids: Sequence[int], message_ids: Sequence[str]
    ) -> list[tuple[int, str, str]]:
        rows = self._rows(
            "SELECT d.id, e.message_id, d.status FROM deliveries d"
            " JOIN events e ON e.seq = d.event_seq WHERE d.integration_id = %s"
            " AND (d.id = ANY(%s) OR e.message_id = ANY(%s))",
            (integration_id, list(delivery_ids), list(message_ids)),
        )
        return [(int(r["id"]), str(r["message_id"]), str(r["status"])) for r in rows]

    def delete_integration(self, integration_id: str, now: float) -> int:
        entry = integration_deleted(now)
        with self._transaction() as db:
            db.execute(
                "UPDATE integrations SET enabled = FALSE, deleted_at = %s, updated_at = %s"
                " WHERE id = %s AND deleted_at IS NULL",
                (now, now, integration_id),
            )
            rows = db.execute(
                "SELECT id, history FROM deliveries WHERE integration_id = %s"
                " AND status = 'pending' FOR UPDATE",
                (integration_id,),
            ).fetchall()
            if rows:
                db.execute(
                    "UPDATE deliveries AS d SET status = 'dead_lettered', held_by = NULL,"
                    " history = v.history, updated_at = %s"
                    " FROM unnest(%s::bigint[], %s::text[]) AS v(id, history) WHERE d.id = v.id",
                    (
                        now,
                        [int(r["id"]) for r in rows],
                        [dumps([*(loads(r["history"]) or []), entry]) for r in rows],
                    ),
                )
        return len(rows)

    def metric_states(self) -> list[StateCount]:
        return read_states(self._rows)

    def metric_counts(
        self, *, settled: tuple[float, float] | None, open_after: float
    ) -> DeliveryMetrics:
        return read_counts(self._rows, POSTGRES, settled=settled, open_after=open_after)

    def settled_times(self, integration_id: str, limit: int) -> list[tuple[str, float, float]]:
        found: list[tuple[str, float, float]] = []
        for status in ("delivered", "filtered", "dead_lettered"):
            rows = self._rows(
                "SELECT queued_at, updated_at FROM deliveries WHERE integration_id = %s"
                " AND status = %s AND NOT test ORDER BY event_seq DESC LIMIT %s",
                (integration_id, status, limit),
            )
            found += [(status, float(r["queued_at"]), float(r["updated_at"])) for r in rows]
        return found
