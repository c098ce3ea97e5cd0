"""The results table and the targets each figure is held to."""

from __future__ import annotations

from typing import Any


def _check(name: str, value: float, op: str, target: float) -> dict[str, Any]:
    met = value <= target if op == "<=" else value >= target
    return {"target": name, "value": value, "goal": f"{op} {target:g}", "met": met}


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    checks = []
    mapping = results.get("mapping")
    if mapping:
        checks.append(_check("mapping cost v2 / JSON floor", mapping["v2_over_floor"], "<=", 2))
        checks.append(_check("mapping cost v1 / JSON floor", mapping["v1_over_floor"], "<=", 3))
    rules = results.get("mapping_rules")
    if rules:
        value = rules["map"]["fallback_over_none"]
        checks.append(_check("mapping: 20 rules / no rules", value, "<=", 1.2))
    delivery = results.get("delivery", {}).get("30ms")
    if delivery:
        ratios = delivery["ratios"]
        checks.append(_check("30 ms: d (v2) / a (official)", ratios["d_over_a"], ">=", 500))
        checks.append(_check("30 ms: d (v2) / b (official x8)", ratios["d_over_b"], ">=", 60))
        checks.append(_check("30 ms: c (v1) / b (official x8)", ratios["c_over_b"], ">=", 4))
    unloaded = results.get("delivery", {}).get("0ms")
    if unloaded and "c_over_a" in unloaded["ratios"]:
        checks.append(
            _check("0 ms: c (v1) / a (official)", unloaded["ratios"]["c_over_a"], ">=", 1)
        )
    if delivery and "e_over_d" in delivery["ratios"]:
        ratio = delivery["ratios"]["e_over_d"]
        checks.append(_check("30 ms: e (pipelines) / d (v2)", ratio, ">=", 0.8))
    batches = results.get("requests_per_event")
    if batches:
        checks.append(_check("v2 batch fill with a backlog", batches["batch_fill"], ">=", 0.9))
    memory = results.get("memory")
    if memory:
        checks.append(
            _check("peak RSS, large run / small run", memory["large_over_small"], "<=", 1.2)
        )
        checks.append(
            _check("peak RSS of the large run, MB", memory["large"]["peak_rss_mb"], "<=", 150)
        )
    ordering = results.get("ordering")
    if ordering:
        checks.append(
            _check("30 ms v2: corpus / distinct identities", ordering["corpus_over_distinct"],
                   ">=", 0.9)
        )  # fmt: skip
        if ordering["now_over_baseline"] is not None:
            checks.append(
                _check("30 ms v2: now / earlier run (indicative)", ordering["now_over_baseline"],
                       ">=", 0.9)
            )  # fmt: skip
    ingest = results.get("ingest")
    if ingest:
        checks.append(
            _check("ingest p99, batch 1000 / batch 10", ingest["p99_large_over_small"], "<=", 1.5)
        )
    e2e = results.get("host_e2e")
    if e2e:
        checks.append(
            _check("30 ms: host end to end / destination v2", e2e["host_over_destination"],
                   ">=", 0.6)
        )  # fmt: skip
    return checks


CLIENTS = (
    "a_official",
    "b_official_8_threads",
    "c_destination_v1",
    "d_destination_v2",
    "e_destination_pipelines",
    "f_destination_v2_2_in_flight",
)


def _rows(results: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    mapping = results.get("mapping")
    if mapping:
        rows += [
            ("1. mapping", f"{mapping['events']} events, mean {mapping['mean_event_bytes']} B, "
                           f"median of {mapping['rounds']} interleaved rounds"),
            ("   v2 (parse, map, render, encode) / floor", f"{mapping['v2_over_floor']}x"),
            ("   v1 (parse, map, render, encode) / floor", f"{mapping['v1_over_floor']}x"),
        ]  # fmt: skip
        if "v2_over_orjson_floor" in mapping:
            rows += [
                ("   floor: json / orjson (us per event)",
                 f"{mapping['floor_us_per_event']} / {mapping['orjson_floor_us_per_event']}"),
                ("   v2 / orjson's own floor", f"{mapping['v2_over_orjson_floor']}x"),
                ("   v1 / orjson's own floor", f"{mapping['v1_over_orjson_floor']}x"),
            ]  # fmt: skip
    rules = results.get("mapping_rules")
    if rules:
        rows += [
            ("1b. mapping rules", f"{rules['rules']} rules per event against none, same events"),
            ("   map: 20 rules, none match / no rules", f"{rules['map']['fallback_over_none']}x"),
            ("   map: 20 rules, the 20th maps it / no rules",
             f"{rules['map']['mapped_over_none']}x"),
            ("   whole pipeline: none match / no rules",
             f"{rules['pipeline']['fallback_over_none']}x"),
        ]  # fmt: skip
    delivery = results.get("delivery")
    if delivery:
        capacity = delivery["server_capacity"]
        rows.append(("2. delivery", "events/s per client; ratios are per-round medians"))
        for latency in ("0ms", "30ms"):
            run = delivery.get(latency)
            if not run:
                continue
            rows.append((f"   added latency {latency}", ""))
            for name in CLIENTS:
                if name not in run:
                    continue
                client = run[name]
                rows.append((
                    f"     {name}",
                    f"{client['events_per_s']:>9} ev/s  {client['requests_per_event']} req/ev  "
                    f"server CPU {client['server_cpu_share']:.0%}",
                ))  # fmt: skip
            ratios = run["ratios"]
            rows.append((
                "     ratios",
                f"d/a {ratios['d_over_a']}x  d/b {ratios['d_over_b']}x  c/b {ratios['c_over_b']}x  "
                f"c/a {ratios.get('c_over_a')}x  b/a {ratios['b_over_a']}x  "
                f"e/a {ratios.get('e_over_a')}x  "
                f"e/d {ratios.get('e_over_d')}x",
            ))  # fmt: skip
            if "f_over_a" in ratios:
                rows.append((
                    "     two calls in flight (f)",
                    f"f/a {ratios['f_over_a']}x  f/b {ratios['f_over_b']}x  "
                    f"f/d {ratios['f_over_d']}x",
                ))  # fmt: skip
        peak = max(
            delivery[latency][name]["requests_per_event"] * delivery[latency][name]["events_per_s"]
            for latency in ("0ms", "30ms") if latency in delivery
            for name in CLIENTS if name in delivery[latency]
        )  # fmt: skip
        rows.append((
            "   server capacity (trivial client)",
            f"{capacity['requests_per_s']} req/s at {capacity['server_cpu_share']:.0%} of a core; "
            f"{capacity['requests_per_server_cpu_s']} req per server CPU-second; "
            f"busiest client used {peak / capacity['requests_per_s']:.0%} of it",
        ))  # fmt: skip
    batches = results.get("requests_per_event")
    if batches:
        rows += [
            ("3. requests per event (v2)", f"one deliver() of {batches['backlog_events']} events"),
            ("   events per request", f"{batches['events_per_request']}"),
            ("   batch fill (all but the tail batch)",
             f"{batches['batch_fill']:.1%} of 500 KB "
             f"(lowest {batches['min_full_batch_fill']:.1%})"),
            ("   events/s under 100 requests/s",
             f"{batches['events_per_s_at_100_requests_per_s']}"),
        ]  # fmt: skip
    memory = results.get("memory")
    if memory:
        small, large = memory["small"], memory["large"]
        rows += [
            ("4. memory (v2, streamed from a file)", ""),
            (f"   {small['events']} events",
             f"peak RSS {small['peak_rss_mb']} MB ({small['seconds']} s)"),
            (f"   {large['events']} events",
             f"peak RSS {large['peak_rss_mb']} MB ({large['seconds']} s)"),
            ("   large / small", f"{memory['large_over_small']}x"),
        ]  # fmt: skip
    curve = results.get("curve")
    if curve:
        rows.append(("5. cost curve (v2)", f"events per deliver() call: {curve['per_call']}"))
        for size in ("small", "large"):
            part = curve[size]
            costs = " ".join(f"{value}x" for value in part["cost_over_floor_0ms"])
            rows.append((f"   {size} (~{part['mean_event_bytes']} B), 0 ms: x floor", costs))
            for latency in ("0ms", "30ms"):
                speedups = " ".join(
                    f"{value}x" for value in part[latency]["speedup_over_1_per_call"]
                )
                rows.append((f"   {size}, {latency}: throughput vs 1 per call", speedups))
    rows += _ordering_rows(results)
    rows += _ingest_rows(results)
    rows += _e2e_rows(results)
    rows += _host_memory_rows(results)
    return rows


def _host_memory_rows(results: dict[str, Any]) -> list[tuple[str, str]]:
    memory = results.get("host_memory")
    if not memory:
        return []
    rows = [("9. host memory, draining a backlog", "serve-like host, SQLite, 0 ms server")]
    for size in ("small", "large"):
        run = memory[size]
        rows.append(
            (f"   {run['events']} events stored first",
             f"worker peak RSS {run['worker_peak_rss_mb']} MB (median "
             f"{run['worker_median_rss_mb']})  serving +{run['serving_growth_mb']} MB  "
             f"{run['events_per_s']} ev/s")
        )  # fmt: skip
    rows.append(("   worker peak, large / small", f"{memory['worker_large_over_small']}x"))
    return rows


def _e2e_rows(results: dict[str, Any]) -> list[tuple[str, str]]:
    e2e = results.get("host_e2e")
    if not e2e:
        return []
    return [
        ("8. host end to end (30 ms)",
         f"{e2e['events']} events, {e2e['events_per_request']} per POST, worker batch "
         f"{e2e['worker_batch_size']}, {e2e['rounds']} interleaved rounds"),
        ("   destination v2 alone", f"{e2e['destination_events_per_s']} ev/s"),
        ("   host: ingest -> store -> deliver", f"{e2e['host_events_per_s']} ev/s"),
        ("   host / destination", f"{e2e['host_over_destination']}x"),
        ("   ingest under that load",
         f"p50 {e2e['ingest_p50_ms']} ms  p99 {e2e['ingest_p99_ms']} ms"),
    ]  # fmt: skip


def _ordering_rows(results: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    ordering = results.get("ordering")
    if ordering:
        rows.append((
            "6. ordering (v2, 30 ms)",
            f"{ordering['events_per_call']} events per deliver() call, per-round median ratios",
        ))  # fmt: skip
        for name in ("corpus", "distinct_identities", "one_identity"):
            part = ordering[name]
            rows.append((
                f"     {name.replace('_', ' ')}",
                f"{part['events_per_s']:>9} ev/s  {part['cpu_us_per_event']} us CPU/ev  "
                f"{part['requests_per_event']} req/ev  "
                f"lanes per call {part['lanes_per_call']:g}, longest {part['longest_lane']}",
            ))  # fmt: skip
        rows.append((
            "   corpus / distinct identities",
            f"{ordering['corpus_over_distinct']}x throughput (what keeping order costs)",
        ))  # fmt: skip
        rows.append((
            "   corpus / one identity",
            f"{ordering['cpu_corpus_over_one_identity']}x CPU per event (what lanes cost)",
        ))  # fmt: skip
        baseline = ordering["baseline"]
        if baseline:
            rows.append((
                "   section 2 now / earlier run",
                f"{ordering['now_over_baseline']}x  ({ordering['now_events_per_s']} ev/s now, "
                f"{baseline['events_per_s']} in the run of {baseline['started']}: other code "
                "and load, indicative only)",
            ))  # fmt: skip
    failures = results.get("transient_failures")
    if failures:
        rows.append((
            f"   {failures['fail_percent']:g}% of requests answer 503",
            "delivered ev/s; events back as retry per call, held + own request failed",
        ))  # fmt: skip
        for api in ("v2", "v1"):
            part = failures[api]
            for label, key in (("no failures", "no_failures"), ("with failures", "with_failures")):
                run = part[key]
                per_failure = run["retry_per_failed_request"]
                rows.append((
                    f"     {api} {label}",
                    f"{run['events_per_s']:>9} ev/s  {run['delivered_share']:.1%} delivered  "
                    f"{run['failed_requests']} of {run['requests']} requests failed  "
                    f"retry per call {run['held_per_call']} + {run['failed_per_call']}"
                    + (f", {per_failure} per failed request" if per_failure else ""),
                ))  # fmt: skip
            rows.append((f"     {api} with / without", f"{part['delivered_ratio']}x"))
    return rows


def _ingest_rows(results: dict[str, Any]) -> list[tuple[str, str]]:
    ingest = results.get("ingest")
    if not ingest:
        return []
    sizes = [key for key in ingest if key.startswith("batch_")]
    rows = [(
        "7. ingest latency (host, worker busy)",
        f"POST /v1/events of {ingest['events_per_request']} events, "
        f"{ingest[sizes[0]]['probes']} per batch size, pooled over interleaved rounds",
    )]  # fmt: skip
    for key in sizes:
        part = ingest[key]
        lasted = "" if part["backlog_lasted"] else "  (backlog ran out)"
        rows.append((
            f"   worker batch_size {key.removeprefix('batch_')}",
            f"p50 {part['p50_ms']} ms  p99 {part['p99_ms']} ms  max {part['max_ms']} ms  "
            f"worker {part['worker_events_per_s']} ev/s{lasted}",
        ))  # fmt: skip
    rows.append((
        "   batch 1000 / batch 10",
        f"p99 {ingest['p99_large_over_small']}x  p50 {ingest['p50_large_over_small']}x",
    ))  # fmt: skip
    return rows


def table(results: dict[str, Any]) -> str:
    rows = _rows(results)
    width = max(len(label) for label, _ in rows) + 2
    lines = [f"{label:<{width}}{value}" for label, value in rows]
    lines.append("")
    lines.append("targets")
    for check in results.get("targets", []):
        mark = "met" if check["met"] else "MISSED"
        lines.append(f"  {check['target']:<40} {check['value']:>8} (goal {check['goal']}) {mark}")
    return "\n".join(lines)
