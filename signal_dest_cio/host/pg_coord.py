"""What host processes on one PostgreSQL database share to work together (SPEC 11):
integration leases, the worker registry, and the request budget per workspace.

Every time here is the database's clock (`clock_timestamp()`), never a process's:
machines whose clocks disagree still agree on who holds a lease and when the next
request may start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ..pacing import Pacer, PacerFactory
from .store_api import Lease, LeaseLost

NOW = "extract(epoch FROM clock_timestamp())::float8"

# A lease is taken when it is free, expired, or already ours; SKIP LOCKED: a worker
# never waits on another's claim of the same integration, it simply does not get it.
CLAIM = f"""
WITH clock AS (SELECT {NOW} AS t),
free AS (
    SELECT l.integration_id FROM integration_leases l, clock
    WHERE l.integration_id = %(id)s
      AND (l.leased_by IS NULL OR l.leased_by = %(owner)s OR l.leased_until < clock.t)
    FOR UPDATE OF l SKIP LOCKED
)
UPDATE integration_leases l SET
    token = CASE WHEN l.leased_by = %(owner)s AND l.leased_until >= clock.t
                 THEN l.token ELSE l.token + 1 END,
    leased_by = %(owner)s,
    leased_until = clock.t + %(seconds)s
FROM free, clock
WHERE l.integration_id = free.integration_id
RETURNING l.token, l.leased_until
"""

RENEW = f"""
UPDATE integration_leases SET leased_until = {NOW} + %(seconds)s
WHERE integration_id = %(id)s AND leased_by = %(owner)s AND token = %(token)s
RETURNING leased_until
"""

# The first request of a workspace starts now; each later one one interval after the
# one before, or now if that has passed. One row per workspace, updated atomically.
TAKE_SLOT = f"""
WITH clock AS (SELECT {NOW} AS t)
INSERT INTO request_slots AS r (key, next_slot)
SELECT %(key)s, clock.t + %(interval)s FROM clock
ON CONFLICT (key) DO UPDATE
    SET next_slot = GREATEST(r.next_slot, EXCLUDED.next_slot - %(interval)s) + %(interval)s
RETURNING r.next_slot - %(interval)s - (SELECT t FROM clock) AS wait, r.next_slot AS reserved
"""


class PgCoordination:
    """Leases, registry and request slots, on connections from `pool`."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    # -- integration leases ----------------------------------------------------------

    def claim(self, integration_id: str, owner: str, seconds: float) -> Lease | None:
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO integration_leases (integration_id) VALUES (%s)"
                " ON CONFLICT DO NOTHING",
                (integration_id,),
            )
            row = conn.execute(
                CLAIM, {"id": integration_id, "owner": owner, "seconds": seconds}
            ).fetchone()
        if row is None:
            return None
        return Lease(integration_id, owner, int(row["token"]), float(row["leased_until"]))

    def renew(self, lease: Lease, seconds: float) -> bool:
        params = {
            "id": lease.integration_id,
            "owner": lease.owner,
            "token": lease.token,
            "seconds": seconds,
        }
        with self._pool.connection() as conn:
            row = conn.execute(RENEW, params).fetchone()
            if row is None:
                return False
            lease.expires_at = float(row["leased_until"])
            conn.execute(
                "UPDATE deliveries SET leased_until = %s WHERE integration_id = %s"
                " AND leased_by = %s AND status = 'pending'",
                (lease.expires_at, lease.integration_id, lease.owner),
            )
        return True

    def release(self, lease: Lease) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE integration_leases SET leased_by = NULL, leased_until = 0"
                " WHERE integration_id = %s AND leased_by = %s AND token = %s",
                (lease.integration_id, lease.owner, lease.token),
            )

    @staticmethod
    def fence(conn: Any, lease: Lease | None) -> None:
        """Inside a write: refuse it (`LeaseLost`) once another worker holds the lease.
        FOR SHARE keeps a claim from taking the lease until this write commits."""
        if lease is None:
            return
        row = conn.execute(
            "SELECT 1 FROM integration_leases WHERE integration_id = %s AND leased_by = %s"
            " AND token = %s FOR SHARE",
            (lease.integration_id, lease.owner, lease.token),
        ).fetchone()
        if row is None:
            raise LeaseLost(lease.integration_id)

    def mark_claimed(self, lease: Lease, delivery_ids: Sequence[int]) -> None:
        """The deliveries this round sends carry who sent them and until when (SPEC 11)."""
        if not delivery_ids:
            return
        with self._pool.connection() as conn:
            self.fence(conn, lease)
            conn.execute(
                "UPDATE deliveries SET leased_by = %s, leased_until = %s WHERE id = ANY(%s)",
                (lease.owner, lease.expires_at, list(delivery_ids)),
            )

    # -- the worker registry -----------------------------------------------------------

    def heartbeat(self, owner: str, seconds: float) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                f"INSERT INTO workers (id, started_at, seen_until) VALUES (%s, {NOW}, {NOW} + %s)"
                " ON CONFLICT (id) DO UPDATE SET seen_until = EXCLUDED.seen_until",
                (owner, seconds),
            )
            # Long gone workers (an hour past their last beat) leave the table.
            conn.execute(f"DELETE FROM workers WHERE seen_until < {NOW} - 3600")

    def live_workers(self) -> list[str]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"SELECT id FROM workers WHERE seen_until > {NOW} ORDER BY id"
            ).fetchall()
        return [row["id"] for row in rows]

    def forget(self, owner: str) -> None:
        with self._pool.connection() as conn:
            conn.execute("DELETE FROM workers WHERE id = %s", (owner,))

    # -- one request budget per workspace, for every process ----------------------------

    def take_slot(self, key: str, interval: float) -> tuple[float, float]:
        """(seconds until this request may start, the slot after it) for workspace `key`."""
        with self._pool.connection() as conn:
            row = conn.execute(TAKE_SLOT, {"key": key, "interval": interval}).fetchone()
        return float(row["wait"]), float(row["reserved"])

    def give_back(self, key: str, interval: float, reserved: float) -> None:
        """A cancelled wait returns its slot when no later one was taken meanwhile."""
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE request_slots SET next_slot = next_slot - %s"
                " WHERE key = %s AND next_slot = %s",
                (interval, key, reserved),
            )

    def pacers(self) -> PacerFactory:
        def make(key: str, per_second: float) -> Pacer:
            return SharedPacer(self, f"{key}|{per_second:g}", per_second)

        return make


class SharedPacer:
    """`max_requests_per_second` for all processes together: each request takes the next
    slot of its workspace's row (one atomic upsert) and sleeps until it."""

    def __init__(self, coordination: PgCoordination, key: str, per_second: float) -> None:
        self._coordination = coordination
        self.key = key
        self.interval = 1.0 / per_second

    async def wait(self) -> None:
        wait, reserved = await asyncio.to_thread(
            self._coordination.take_slot, self.key, self.interval
        )
        if wait <= 0:
            return
        try:
            await asyncio.sleep(wait)
        except asyncio.CancelledError:
            await asyncio.shield(
                asyncio.to_thread(self._coordination.give_back, self.key, self.interval, reserved)
            )
            raise
