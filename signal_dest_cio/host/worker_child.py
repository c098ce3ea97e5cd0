"""The worker process's side of `worker_process.py`: `python -m signal_dest_cio.host.worker_child`.

It reads its settings from the first line of stdin, runs a `DeliveryWorker` on the
host's database until stdin ends, then stops it (leases released, clients closed).
Not imported by the package, so `-m` runs it fresh.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import sys
from typing import Any

from .backoff import RetryPolicy

GC_THRESHOLD = 20_000  # allocations between young collections (Python's default: 700)


async def _run(settings: dict[str, Any]) -> None:
    from ..cli import configure_logging
    from .discovery import discover_destinations, secret_fields
    from .pool import DestinationPool
    from .store_api import open_store
    from .vault import Vault
    from .worker import DeliveryWorker

    configure_logging()
    db = settings["db"]
    store = open_store(
        db, Vault.for_database(db, settings["secret_key"]), inherited_lock=settings["lock_fd"]
    )
    destinations = discover_destinations(None)
    pool = DestinationPool(
        store, destinations, {key: secret_fields(cls) for key, cls in destinations.items()}
    )
    worker = DeliveryWorker(
        store,
        pool,
        policy=RetryPolicy(**settings["policy"]),
        batch_size=settings["batch_size"],
        poll_seconds=settings["poll_seconds"],
        lease_seconds=settings["lease_seconds"],
    )
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()

    def readable() -> None:
        data = os.read(sys.stdin.fileno(), 4096)
        if not data:
            loop.remove_reader(sys.stdin.fileno())
            stopped.set()
        else:
            worker.wake()

    loop.add_reader(sys.stdin.fileno(), readable)
    gc.freeze()  # what is loaded by now lives as long as the process: never scanned again
    # A service manager's SIGTERM (sent to the whole group) stops it as its host would.
    loop.add_signal_handler(signal.SIGTERM, stopped.set)
    worker.start()
    try:
        await stopped.wait()
    finally:
        await worker.stop()
        await pool.aclose()
        store.close()


def main() -> None:
    # Ctrl-C in a terminal reaches the whole process group: the host stops this process
    # (by closing its stdin) once it has stopped taking requests, not the keyboard.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settings = json.loads(sys.stdin.buffer.readline())
    # A round makes a few hundred thousand short-lived objects (rows, events, requests,
    # outcomes): at the default threshold (700) the collector runs every few events and
    # takes ~10% of the worker's time finding next to nothing (few of them are cycles).
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
    asyncio.run(_run(settings))


if __name__ == "__main__":
    main()
