"""Section 9: the host's memory while its worker drains a backlog (issue 14, target 5).

A reference host as `signal-cio serve` runs it (`served_host`: uvicorn, SQLite, the
delivery worker in a process of its own) starts with a backlog already stored (the
integration installed through the admin API, the events stored by `section 7`'s
template) and drains it to the bench server with no added latency. While it does, the
worker process's resident set is sampled from `/proc/<pid>/status`; its peak (`VmHWM`)
is reported for a small and a large backlog (a tenth of it), and so is the serving
process's own growth over the drain (this benchmark's process: its RSS before the
worker starts is the base, the API serves nothing meanwhile but the counts polled).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .ingest import make_template, served_host
from .local import LocalServer
from .memory import status_kb

DEADLINE_SECONDS = 900
SAMPLE_SECONDS = 0.1


def drain(server: LocalServer, backlog: int, seed: int) -> dict[str, Any]:
    """One host draining `backlog` stored events; peak RSS of its worker process."""
    with tempfile.TemporaryDirectory(prefix="bench-host-memory-") as folder:
        template = make_template(Path(folder), server.url(0), backlog, seed)
        db = Path(folder, "host.db")
        shutil.copyfile(template.path, db)
        with served_host(str(db), 1000, template.secret_key) as (_, host):
            serving_base = status_kb("VmRSS")
            host.worker.start()
            child = host.worker.child
            pid = child.pid if child is not None else None
            if pid is None:
                raise RuntimeError("the host runs no worker process")
            serving_peak, worker_samples = serving_base, []
            stop = threading.Event()

            def sample() -> None:  # the worker's RSS, every SAMPLE_SECONDS
                while not stop.wait(SAMPLE_SECONDS):
                    worker_samples.append(status_kb("VmRSS", pid))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            start, deadline = time.perf_counter(), time.monotonic() + DEADLINE_SECONDS
            while host.store.counts(template.integration_id)["delivered"] < backlog:
                if time.monotonic() > deadline:
                    raise RuntimeError("the host did not drain its backlog in time")
                serving_peak = max(serving_peak, status_kb("VmRSS"))
                time.sleep(0.05)
            seconds = time.perf_counter() - start
            worker_peak = status_kb("VmHWM", pid)
            stop.set()
            sampler.join()
    return {
        "events": backlog,
        "seconds": round(seconds, 1),
        "events_per_s": round(backlog / seconds, 1),
        "worker_peak_rss_mb": round(worker_peak / 1024, 1),
        "worker_median_rss_mb": round(sorted(worker_samples)[len(worker_samples) // 2] / 1024, 1)
        if worker_samples
        else None,
        "serving_growth_mb": round((serving_peak - serving_base) / 1024, 1),
    }


def measure(server: LocalServer, backlog: int, seed: int) -> dict[str, Any]:
    small = drain(server, max(1, backlog // 10), seed)
    large = drain(server, backlog, seed)
    return {
        "small": small,
        "large": large,
        "worker_large_over_small": round(
            large["worker_peak_rss_mb"] / small["worker_peak_rss_mb"], 2
        ),
    }
