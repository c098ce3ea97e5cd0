"""The PostgreSQL schema, versioned: each start brings the database up to `VERSION`.

`schema_version` holds one row per migration applied. Migrations run in one
transaction under an advisory lock, so host processes starting together on an empty
database create it once, and a process meeting a newer schema than it knows
refuses to start rather than write rows it does not understand.

JSON columns are TEXT, as in SQLite: the bytes the host stored are the bytes it
shows again (JSONB would reorder keys and refuse `\\u0000`).
"""

from __future__ import annotations

from typing import Any

# Each entry is one version; never edit an entry once released, append a new one.
MIGRATIONS: tuple[str, ...] = (
    # 1: the SQLite tables, plus what many workers share (leases, registry, pace).
    """
    CREATE TABLE integrations (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        destination TEXT NOT NULL,
        variant TEXT,
        delivery_mode TEXT NOT NULL,
        enabled BOOLEAN NOT NULL DEFAULT TRUE,
        paused TEXT,
        revision INTEGER NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE revisions (
        integration_id TEXT NOT NULL REFERENCES integrations(id),
        number INTEGER NOT NULL,
        sealed_config TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (integration_id, number)
    );
    CREATE TABLE events (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        namespace TEXT NOT NULL DEFAULT 'live',
        message_id TEXT NOT NULL,
        body TEXT NOT NULL,
        received_at DOUBLE PRECISION NOT NULL,
        UNIQUE (namespace, message_id)
    );
    CREATE TABLE deliveries (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        integration_id TEXT NOT NULL REFERENCES integrations(id),
        event_seq BIGINT NOT NULL REFERENCES events(seq),
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        queued_at DOUBLE PRECISION NOT NULL,
        next_attempt_at DOUBLE PRECISION NOT NULL,
        outcome TEXT,
        requests TEXT,
        response_status INTEGER,
        revision INTEGER,
        history TEXT NOT NULL DEFAULT '[]',
        test BOOLEAN NOT NULL DEFAULT FALSE,
        lane_keys TEXT,
        held_by BIGINT,
        retry_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
        leased_by TEXT,
        leased_until DOUBLE PRECISION,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        UNIQUE (integration_id, event_seq)
    );
    CREATE INDEX deliveries_due
        ON deliveries (integration_id, status, next_attempt_at, event_seq);
    CREATE INDEX deliveries_order ON deliveries (integration_id, status, event_seq);
    CREATE INDEX deliveries_held ON deliveries (held_by) WHERE held_by IS NOT NULL;
    CREATE INDEX deliveries_leased ON deliveries (integration_id, leased_by)
        WHERE leased_by IS NOT NULL;
    -- One row per integration: who walks and sends it now, until when, and a token
    -- that grows with each new holder (writes of an older holder are refused).
    CREATE TABLE integration_leases (
        integration_id TEXT PRIMARY KEY REFERENCES integrations(id),
        leased_by TEXT,
        leased_until DOUBLE PRECISION NOT NULL DEFAULT 0,
        token BIGINT NOT NULL DEFAULT 0
    );
    -- Host processes that deliver, and until when each is taken to be alive.
    CREATE TABLE workers (
        id TEXT PRIMARY KEY,
        started_at DOUBLE PRECISION NOT NULL,
        seen_until DOUBLE PRECISION NOT NULL
    );
    -- Per workspace (and rate): when the next request may start, for every process.
    CREATE TABLE request_slots (
        key TEXT PRIMARY KEY,
        next_slot DOUBLE PRECISION NOT NULL
    );
    """,
    # 2: a deleted integration is kept as a record (its deliveries stay readable).
    """
    ALTER TABLE integrations ADD COLUMN deleted_at DOUBLE PRECISION;
    """,
)

VERSION = len(MIGRATIONS)


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer host than this one."""


def migrate(conn: Any) -> int:
    """Apply what is missing, in one transaction; the version the database is now at."""
    with conn.transaction():
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('signal-cio:migrate:' || current_schema()))"
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        row = conn.execute("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version").fetchone()
        current = int(row["v"])
        if current > VERSION:
            raise SchemaTooNew(
                f"the database's schema is version {current}, newer than this host's "
                f"({VERSION}); upgrade signal-dest-cio on this machine"
            )
        for number in range(current + 1, VERSION + 1):
            conn.execute(MIGRATIONS[number - 1])
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
    return VERSION
