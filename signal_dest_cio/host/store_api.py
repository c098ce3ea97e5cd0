"""What the host asks of its store: one protocol, two implementations.

`SqliteStore` (`store.py`, the embedded default: one host process per file) and
`PostgresStore` (`pgstore.py`: any number of host processes on one database) both
satisfy `HostStore`; `open_store` picks one from the `--db` value, and nothing above
this module knows which it has.

Besides integrations, revisions, events and deliveries, the protocol has what many
workers need to share the work (SPEC 11):

- an **integration lease** (`claim_lease`, `renew_lease`, `release_lease`): the worker
  holding it is the only one that walks and sends that integration's deliveries;
  writes that settle a round carry the lease and are refused (`LeaseLost`) once
  another worker has taken it over;
- a **worker registry** (`heartbeat`, `live_workers`), so workers agree on who is
  preferred for which integration;
- a **request budget per workspace** (`request_pacers`) shared by every process, or
  None where the process is the only one (SQLite) and the destination's own pacer is
  the whole budget;
- **wake-ups** (`subscribe`): work stored by any process wakes every worker at once
  (PostgreSQL: LISTEN/NOTIFY); a worker also polls, so a lost wake-up only waits.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..pacing import Pacer, PacerFactory
from .metric_queries import DeliveryMetrics, StateCount
from .records import Accepted, Delivery, Integration, Revision
from .vault import Vault

__all__ = [
    "HostStore",
    "Lease",
    "LeaseLost",
    "Pacer",
    "PacerFactory",
    "StaleRevision",
    "is_postgres_url",
    "open_store",
]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class StaleRevision(Exception):
    """A revision built on one that is no longer current."""

    def __init__(self, current: int) -> None:
        super().__init__(f"the current revision is {current}")
        self.current = current


class LeaseLost(Exception):
    """Another worker took the integration over: this worker's round must not settle."""


@dataclass(slots=True)
class Lease:
    """One worker's hold on one integration. `token` grows with every new holder, so a
    write fenced by an old token is refused even if the same worker claims again."""

    integration_id: str
    owner: str
    token: int
    expires_at: float  # the database's clock, seconds since the epoch


class HostStore(Protocol):
    """Everything the host does with its database (see the implementations)."""

    vault: Vault

    def close(self) -> None: ...

    def lock_descriptor(self) -> int | None:
        """The database file lock's descriptor, for a worker process (None: no such lock)."""
        ...

    # integrations and revisions
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
    ) -> Integration: ...

    def add_revision(
        self, integration_id: str, config: dict[str, Any], now: float, base: int | None = None
    ) -> int: ...

    def check_vault(self) -> None: ...

    def rotate_vault(self, new: Vault) -> int: ...

    def get_integration(self, integration_id: str) -> Integration | None: ...

    def list_integrations(self) -> list[Integration]: ...

    def get_revision(self, integration_id: str, number: int) -> Revision | None: ...

    def list_revisions(self, integration_id: str) -> list[Revision]: ...

    def set_enabled(self, integration_id: str, enabled: bool, now: float) -> None: ...

    def set_paused(
        self,
        integration_id: str,
        reason: dict[str, Any] | None,
        now: float,
        *,
        lease: Lease | None = None,
    ) -> None: ...

    # events
    def ingest(
        self,
        events: Iterable[tuple[str, Any]],
        now: float,
        *,
        namespace: str = "live",
        exclude: Collection[str] = (),
    ) -> list[Accepted]: ...

    def record_test_event(
        self, integration_id: str, message_id: str, body: Any, now: float
    ) -> Delivery: ...

    # deliveries
    def due_deliveries(
        self, integration_id: str, now: float, limit: int, after_seq: int = 0
    ) -> list[Delivery]: ...

    def waiting_deliveries(
        self, integration_id: str, now: float, after_seq: int, upto_seq: int
    ) -> list[Delivery]: ...

    def next_due_at(self, integration_ids: Sequence[str]) -> float | None: ...

    def save_deliveries(
        self, deliveries: Iterable[Delivery], now: float, *, lease: Lease | None = None
    ) -> None: ...

    def release_held(
        self,
        blocker_ids: Sequence[int],
        now: float,
        dead: Sequence[int],
        *,
        lease: Lease | None = None,
    ) -> None: ...

    def abandon_test_deliveries(self, now: float) -> int: ...

    def get_delivery(self, integration_id: str, delivery_id: int) -> Delivery | None: ...

    def list_deliveries(
        self,
        integration_id: str,
        *,
        status: str | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[Delivery]: ...

    def counts(self, integration_id: str) -> dict[str, int]: ...

    def requeue_dead_letters(
        self,
        integration_id: str,
        now: float,
        delivery_ids: Sequence[int] | None = None,
        message_ids: Sequence[str] | None = None,
    ) -> list[int]: ...

    def delivery_states(
        self, integration_id: str, delivery_ids: Sequence[int], message_ids: Sequence[str]
    ) -> list[tuple[int, str, str]]:
        """(id, message id, status) of the integration's deliveries named either way."""
        ...

    def delete_integration(self, integration_id: str, now: float) -> int:
        """Deleted (kept as a record, listed nowhere); pending deliveries dead-lettered."""
        ...

    def metric_states(self) -> list[StateCount]:
        """Deliveries per integration and status now, held ones apart (/metrics)."""
        ...

    def metric_counts(
        self, *, settled: tuple[float, float] | None, open_after: float
    ) -> DeliveryMetrics:
        """History and latency counts of the rows settled in `settled`, or of the open
        ones (metric_queries.py)."""
        ...

    def settled_times(self, integration_id: str, limit: int) -> list[tuple[str, float, float]]:
        """(status, queued_at, updated_at): the newest `limit` settled deliveries of each
        status, tests left out (the /live chart, timeline.py)."""
        ...

    # many workers: leases, the registry, the shared request budget
    def claim_lease(self, integration_id: str, owner: str, seconds: float) -> Lease | None: ...

    def renew_lease(self, lease: Lease, seconds: float) -> bool: ...

    def release_lease(self, lease: Lease) -> None: ...

    def mark_claimed(self, lease: Lease, delivery_ids: Sequence[int]) -> None: ...

    def heartbeat(self, owner: str, seconds: float) -> None: ...

    def live_workers(self) -> list[str]: ...

    def forget_worker(self, owner: str) -> None: ...

    def request_pacers(self) -> PacerFactory | None: ...

    def subscribe(self, callback: Callable[[], None]) -> None: ...


def is_postgres_url(db: str) -> bool:
    return db.startswith(POSTGRES_SCHEMES)


def open_store(
    db: str, vault: Vault | None = None, *, inherited_lock: int | None = None
) -> HostStore:
    """The store `db` names: a PostgreSQL URL, else a SQLite file (or `:memory:`).

    `inherited_lock`: the SQLite file lock's descriptor, held by the host process that
    started this one (its worker process); the lock is not taken again."""
    if is_postgres_url(db):
        from .pgstore import PostgresStore  # psycopg is imported only when asked for

        return PostgresStore(db, vault)
    from .store import SqliteStore

    return SqliteStore(db, vault, inherited_lock=inherited_lock)
