"""Section 4: peak memory while delivering a large file of events, in a child process.

The parent writes the events to a JSON Lines file and runs this module once per
count (`python -m bench.memory FILE URL COUNT`); the child streams the file
through `deliver()` in chunks to the local server (v2 mode) and prints one JSON
line: its peak RSS (VmHWM), its RSS after the first chunk, and what it
delivered. A run of N events that peaks where a run of N/10 does shows that
nothing grows with N.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import structlog

from .common import REPO, destination_config

CHUNK = 1000


def status_kb(field: str, pid: int | str = "self") -> int:
    """A figure from /proc/<pid>/status: VmRSS (now) or VmHWM (peak of that program).

    Not `ru_maxrss`: on Linux a child inherits its parent's peak across fork and
    exec, so it would report the benchmark's own size, not its own.
    """
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


async def _stream(path: Path, url: str, count: int) -> dict[str, Any]:
    from signal_dest_cio import CustomerIoDestination

    delivered = sent = 0
    first_chunk_rss = 0
    start = time.perf_counter()
    async with CustomerIoDestination(destination_config(url, "v2")) as destination:
        with path.open() as lines:
            while sent < count:
                chunk = list(itertools.islice(lines, min(CHUNK, count - sent)))
                if not chunk:
                    break
                outcomes = await destination.deliver(chunk)
                delivered += sum(outcome.kind == "delivered" for outcome in outcomes)
                sent += len(chunk)
                if not first_chunk_rss:
                    first_chunk_rss = status_kb("VmRSS")
    return {
        "events": sent,
        "delivered": delivered,
        "seconds": round(time.perf_counter() - start, 1),
        "rss_after_first_chunk_mb": round(first_chunk_rss / 1024, 1),
        "peak_rss_mb": round(status_kb("VmHWM") / 1024, 1),
    }


def run_child(path: Path, url: str, count: int) -> dict[str, Any]:
    """Deliver `count` events from `path` in a fresh interpreter; its report."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.memory", str(path), url, str(count)],
        capture_output=True, text=True, cwd=REPO, check=False, timeout=3600,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"memory child failed: {result.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def main() -> None:
    path, url, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    # A host routes the destination's log lines somewhere; here they are rendered
    # and dropped, so they cost what they cost without filling the terminal.
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    print(json.dumps(asyncio.run(_stream(path, url, count))))


if __name__ == "__main__":
    main()
