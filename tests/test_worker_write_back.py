"""A round's write-back: its outcomes stored in slices of transactions (each commit is an
fsync), and the worker process's collector tuned for rounds of short-lived objects."""

from __future__ import annotations

import asyncio
import gc
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from signal_dest_cio.host import worker_child
from signal_dest_cio.host.store import SqliteStore


def queued(store: SqliteStore, count: int) -> list[Any]:
    store.create_integration(
        "int_a", name="a", destination="customer_io", variant=None,
        delivery_mode="batch", config={}, now=time.time(),
    )  # fmt: skip
    store.ingest(
        [(f"m{n}", {"type": "track", "userId": f"u{n}", "event": "e", "messageId": f"m{n}"})
         for n in range(count)],
        time.time(),
    )  # fmt: skip
    due = store.due_deliveries("int_a", time.time(), count)
    assert len(due) == count
    return due


def test_a_round_of_a_thousand_outcomes_is_written_in_slices(tmp_path: Path) -> None:
    """A commit per SAVE_SLICE rows: not one per row (a thousand fsyncs), not one for the
    whole round (the write lock held while ingestion waits)."""
    store = SqliteStore(str(tmp_path / "host.db"))
    try:
        due = queued(store, 1000)
        now = time.time()
        for delivery in due:
            delivery.status = "delivered"
            delivery.attempts = 1
            delivery.outcome = {"kind": "delivered", "code": "ok", "status": 200}
            delivery.history.append({"at": now, "kind": "delivered", "code": "ok"})
        statements: list[str] = []
        store._db.set_trace_callback(statements.append)
        try:
            store.save_deliveries(due, now)
        finally:
            store._db.set_trace_callback(None)
        assert [s for s in statements if s.startswith("COMMIT")] == ["COMMIT"] * 10
        assert store.counts("int_a")["delivered"] == 1000
        saved = store.get_delivery("int_a", due[-1].id)
        assert saved is not None and saved.outcome == due[-1].outcome
    finally:
        store.close()


def test_the_worker_process_collects_young_objects_less_often(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, Any] = {}

    def run(settings: dict[str, Any]) -> None:
        seen["settings"] = settings
        seen["threshold"] = gc.get_threshold()

    class Stdin:
        class buffer:  # stands in for sys.stdin.buffer
            @staticmethod
            def readline() -> bytes:
                return json.dumps({"db": ":memory:"}).encode() + b"\n"

    before = gc.get_threshold()
    monkeypatch.setattr(worker_child, "_run", run)
    monkeypatch.setattr(sys, "stdin", Stdin)
    monkeypatch.setattr(asyncio, "run", lambda call: call)
    monkeypatch.setattr(signal, "signal", lambda *_: None)
    try:
        worker_child.main()
    finally:
        gc.set_threshold(*before)
    assert seen["settings"] == {"db": ":memory:"}
    assert seen["threshold"][0] == worker_child.GC_THRESHOLD > before[0]
    assert seen["threshold"][1:] == before[1:]
