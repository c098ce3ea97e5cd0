"""The benchmark still runs: `python -m bench --quick` on a tiny corpus.

Structure only (every section present, every ratio a positive number): timings
on a shared machine prove nothing, so none is asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CLIENTS = ("a_official", "b_official_8_threads", "c_destination_v1", "d_destination_v2")


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and value > 0


def test_quick_bench_writes_every_section_with_positive_ratios(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert (tmp_path / "results.png").read_bytes().startswith(b"\x89PNG")
    assert "targets" in run.stdout  # the table was printed

    mapping = results["mapping"]
    assert _positive(mapping["v2_over_floor"]) and _positive(mapping["v1_over_floor"])

    delivery = results["delivery"]
    assert _positive(delivery["server_capacity"]["requests_per_s"])
    for latency in ("0ms", "30ms"):
        run_at = delivery[latency]
        for client in CLIENTS:
            assert _positive(run_at[client]["events_per_s"])
            assert _positive(run_at[client]["requests_per_event"])
        assert all(_positive(ratio) for ratio in run_at["ratios"].values())

    batches = results["requests_per_event"]
    assert _positive(batches["events_per_request"]) and 0 < batches["batch_fill"] <= 1

    memory = results["memory"]
    assert memory["large"]["delivered"] == memory["large"]["events"] > 0
    assert _positive(memory["large_over_small"])

    curve = results["curve"]
    for size in ("small", "large"):
        for latency in ("0ms", "30ms"):
            assert len(curve[size][latency]["events_per_s"]) == len(curve["per_call"])
            assert all(_positive(rate) for rate in curve[size][latency]["events_per_s"])

    assert {check["target"] for check in results["targets"]} >= {
        "mapping cost v2 / JSON floor",
        "30 ms: d (v2) / a (official)",
        "v2 batch fill with a backlog",
        "peak RSS, large run / small run",
    }
