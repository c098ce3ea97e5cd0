"""`python -m bench.scaleout` still runs end to end (tiny: 300 events, 2 integrations, SQLite
and 2 processes on PostgreSQL). Structure only: timings on a shared machine prove
nothing, so none is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from signal_dest_cio.host.pg_local import find_binaries

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(find_binaries() is None, reason="no PostgreSQL server binaries")
def test_the_scaleout_bench_delivers_everything_on_both_stores(tmp_path: Path) -> None:
    out = tmp_path / "scaleout.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.scaleout", "--events", "300", "--integrations", "2",
         "--processes", "2", "--rounds", "1", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(out.read_text())
    configs = {(r["store"], r["processes"]) for r in results["best"]}
    assert configs == {("sqlite", 1), ("postgresql", 2)}
    for row in results["best"]:
        assert row["deliveries"] == 600 and row["deliveries_per_s"] > 0
    assert "vs SQLite" in run.stdout
