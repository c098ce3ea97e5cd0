"""The benchmark still runs: `python -m bench --quick` on a tiny corpus.

Structure only (every section present, every ratio a positive number, counts that
add up): timings on a shared machine prove nothing, so none is asserted here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
COMMITTED = ("results.json", "results.png")
CLIENTS = ("a_official", "b_official_8_threads", "c_destination_v1", "d_destination_v2",
           "e_destination_pipelines", "f_destination_v2_2_in_flight")  # fmt: skip


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and value > 0


def test_quick_bench_writes_every_section_with_positive_ratios() -> None:
    committed = {name: (REPO / "bench" / name).read_bytes() for name in COMMITTED}
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],  # no --out: a directory of its own
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert run.returncode == 0, run.stderr[-3000:]
    [written] = [line for line in run.stderr.splitlines() if line.startswith("results written")]
    out = Path(written.removeprefix("results written to "))
    assert out.is_dir() and out.resolve() != (REPO / "bench").resolve()
    # The committed figures are what the README quotes: a quick run never replaces them.
    assert {name: (REPO / "bench" / name).read_bytes() for name in COMMITTED} == committed
    results = json.loads((out / "results.json").read_text())
    assert (out / "results.png").read_bytes().startswith(b"\x89PNG")
    shutil.rmtree(out)
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

    ordering = results["ordering"]
    for variant in ("corpus", "distinct_identities", "one_identity"):
        assert _positive(ordering[variant]["events_per_s"])
        assert _positive(ordering[variant]["cpu_us_per_event"])
        assert 1 <= ordering[variant]["longest_lane"] <= ordering["events_per_call"]
    assert ordering["distinct_identities"]["longest_lane"] == 1
    assert ordering["one_identity"]["lanes_per_call"] == 1
    assert _positive(ordering["corpus_over_distinct"])
    assert _positive(ordering["cpu_corpus_over_one_identity"])
    assert ordering["now_events_per_s"] == delivery["30ms"]["d_destination_v2"]["events_per_s"]
    if ordering["baseline"] is not None:  # bench/results.json of an earlier run
        assert _positive(ordering["now_over_baseline"])

    failures = results["transient_failures"]
    assert failures["fail_percent"] == 1
    for api in ("v2", "v1"):
        for part in ("no_failures", "with_failures"):
            run_with = failures[api][part]
            assert _positive(run_with["events_per_s"]) and _positive(run_with["requests"])
            assert 0 <= run_with["failed_requests"] <= run_with["requests"]
            assert 0 < run_with["delivered_share"] <= 1
        assert failures[api]["no_failures"]["failed_requests"] == 0
        assert _positive(failures[api]["delivered_ratio"])

    ingest = results["ingest"]
    for batch_size in (10, 100, 1000):
        point = ingest[f"batch_{batch_size}"]
        assert 0 < point["p50_ms"] <= point["p99_ms"] <= point["max_ms"]
        assert point["probes"] == ingest["probes_per_round"] * ingest["rounds"]
        assert _positive(point["worker_events_per_s"])
    assert _positive(ingest["p99_large_over_small"])

    e2e = results["host_e2e"]
    assert e2e["events"] > 0 and e2e["latency_ms"] == 30
    assert _positive(e2e["destination_events_per_s"]) and _positive(e2e["host_events_per_s"])
    ratio = e2e["host_events_per_s"] / e2e["destination_events_per_s"]
    assert abs(e2e["host_over_destination"] - ratio) < 0.01
    assert 0 < e2e["ingest_p50_ms"] <= e2e["ingest_p99_ms"]

    host_memory = results["host_memory"]
    assert host_memory["large"]["events"] == 10 * host_memory["small"]["events"]
    for run in (host_memory["small"], host_memory["large"]):
        assert run["worker_peak_rss_mb"] > 10  # a Python process with the host loaded
        assert _positive(run["events_per_s"]) and run["serving_growth_mb"] >= 0
    peaks = host_memory["large"]["worker_peak_rss_mb"] / host_memory["small"]["worker_peak_rss_mb"]
    assert abs(host_memory["worker_large_over_small"] - peaks) < 0.01

    assert {check["target"] for check in results["targets"]} >= {
        "mapping cost v2 / JSON floor",
        "30 ms: d (v2) / a (official)",
        "v2 batch fill with a backlog",
        "peak RSS, large run / small run",
        "30 ms v2: corpus / distinct identities",
        "ingest p99, batch 1000 / batch 10",
        "30 ms: host end to end / destination v2",
    }


def test_bench_writes_a_full_run_to_bench_and_elsewhere_when_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(REPO))
    from bench.__main__ import HERE, output_dir

    assert output_dir(None, quick=False) == HERE  # the run the README quotes
    assert output_dir(tmp_path / "x", quick=True) == tmp_path / "x"
    assert (tmp_path / "x").is_dir()
    quick = output_dir(None, quick=True)
    assert quick.is_dir() and HERE not in quick.parents and quick != HERE
    quick.rmdir()
