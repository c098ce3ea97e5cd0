"""The host database's tables, and the steps that bring an older file up to date."""

from __future__ import annotations

import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS integrations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    destination TEXT NOT NULL,
    variant TEXT,
    delivery_mode TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    paused TEXT,
    revision INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    deleted_at REAL
);
CREATE TABLE IF NOT EXISTS revisions (
    integration_id TEXT NOT NULL REFERENCES integrations(id),
    number INTEGER NOT NULL,
    sealed_config TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (integration_id, number)
);
-- `namespace` keeps test events apart: a test never takes a messageId of real traffic.
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace TEXT NOT NULL DEFAULT 'live',
    message_id TEXT NOT NULL,
    body TEXT NOT NULL,
    received_at REAL NOT NULL,
    UNIQUE (namespace, message_id)
);
-- `lane_keys`: the identifiers the event touches (JSON list), filled in when the worker
-- first sees it; `held_by`: the delivery it waits behind (SPEC 4.1); `retry_seconds`:
-- time spent waiting for its own retries, the only time the age budget counts.
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    integration_id TEXT NOT NULL REFERENCES integrations(id),
    event_seq INTEGER NOT NULL REFERENCES events(seq),
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    queued_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    outcome TEXT,
    requests TEXT,
    response_status INTEGER,
    revision INTEGER,
    history TEXT NOT NULL DEFAULT '[]',
    test INTEGER NOT NULL DEFAULT 0,
    lane_keys TEXT,
    held_by INTEGER,
    retry_seconds REAL NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (integration_id, event_seq)
);
CREATE INDEX IF NOT EXISTS deliveries_due
    ON deliveries (integration_id, status, next_attempt_at, event_seq);
CREATE INDEX IF NOT EXISTS deliveries_order
    ON deliveries (integration_id, status, event_seq);
CREATE INDEX IF NOT EXISTS deliveries_held ON deliveries (held_by) WHERE held_by IS NOT NULL;
"""

_ADDED_DELIVERY_COLUMNS = {
    "lane_keys": "TEXT",
    "held_by": "INTEGER",
    "retry_seconds": "REAL NOT NULL DEFAULT 0",
}


def create_schema(db: sqlite3.Connection) -> None:
    """Create what is missing; a file from before lanes and test namespaces is upgraded."""
    if _columns(db, "events") and "namespace" not in _columns(db, "events"):
        _add_event_namespace(db)
    integrations = _columns(db, "integrations")
    if integrations and "deleted_at" not in integrations:
        db.execute("ALTER TABLE integrations ADD COLUMN deleted_at REAL")
    existing = _columns(db, "deliveries")
    for name, declaration in _ADDED_DELIVERY_COLUMNS.items():
        if existing and name not in existing:
            db.execute(f"ALTER TABLE deliveries ADD COLUMN {name} {declaration}")
    db.executescript(SCHEMA)


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def _add_event_namespace(db: sqlite3.Connection) -> None:
    """Rebuild `events` with the namespace column (its UNIQUE constraint changes)."""
    db.execute("PRAGMA foreign_keys=OFF")
    db.executescript(
        """
        BEGIN IMMEDIATE;
        CREATE TABLE events_upgraded (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            namespace TEXT NOT NULL DEFAULT 'live',
            message_id TEXT NOT NULL,
            body TEXT NOT NULL,
            received_at REAL NOT NULL,
            UNIQUE (namespace, message_id)
        );
        INSERT INTO events_upgraded (seq, namespace, message_id, body, received_at)
            SELECT e.seq,
                   CASE WHEN EXISTS (SELECT 1 FROM deliveries d
                                     WHERE d.event_seq = e.seq AND d.test = 1)
                        THEN 'test' ELSE 'live' END,
                   e.message_id, e.body, e.received_at
            FROM events e;
        DROP TABLE events;
        ALTER TABLE events_upgraded RENAME TO events;
        COMMIT;
        """
    )
    db.execute("PRAGMA foreign_keys=ON")
