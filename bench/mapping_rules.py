"""Section 1b: what 20 mapping rules (SPEC 12) cost per event, against no rules.

The same events, mapped from the JSON text `deliver()` is handed, three ways, run
side by side (interleaved, the order rotating every round, the median of per-round
ratios reported):

- `none`: the built-in mapping (no `mappings` in the config);
- `rules_20_fallback`: 20 rules, none of which match the corpus, so every one is
  evaluated and the event then takes the built-in mapping: the pure cost of
  evaluating 20 rules (the SPEC's target: at most 20% over `none`);
- `rules_20_mapped`: the same 19 rules before a last one that matches every event
  and maps it with actions (identify_person / track_event / track_page ...), so
  what is sent comes from the rules: evaluation plus the actions' own work.

Each way is timed twice: parse and map only, and the whole of section 1's pipeline
(parse, map, render each operation, encode its v2 item).
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

from signal_dest_cio.config import CustomerIoConfig
from signal_dest_cio.mapping import map_event
from signal_dest_cio.mappings.engine import map_with_rules
from signal_dest_cio.operations import Mapped
from signal_dest_cio.render import encode_body, render_v2

from .mapping_cost import bench_config, ratio

Pipeline = Callable[[list[str]], int]

# Conditions of the shapes users write: event names, types, properties, globs.
NINETEEN: list[Any] = [
    'type = "track" and event = "Account Deleted"',
    'event = "user.signup"',
    'match(event, "debug.*") or event = "Test Event"',
    'type = "track" and properties.revenue > 100000',
    'contains(context.page.url, "/internal/")',
    'type = "identify" and traits.plan = "enterprise-legacy"',
    {"all": [{"path": "type", "op": "eq", "value": "screen"},
             {"path": "name", "op": "eq", "value": "Onboarding"}]},
    'event in ["Trial Started", "Trial Ended", "Trial Extended"]',
    'type = "group" and traits.employees >= 100000',
    'starts_with(event, "cron.")',
    'userId = null and anonymousId = null',
    'type = "page" and properties.path = "/never"',
    'event = "Order Refunded" and properties.total > 0',
    '!(type = "track" or type = "page" or type = "identify" or type = "screen" or '
    'type = "group" or type = "alias")',
    'ends_with(event, ".internal")',
    'context.app.version = "0.0.0-dev"',
    'type = "alias" and previousId = "never"',
    'properties.coupon = "NEVER-1" or traits.coupon = "NEVER-1"',
    'event = "Subscription Cancelled" and properties.reason = "price"',
]  # fmt: skip
_ACTIONS = {
    "identify": [{"action": "identify_person"}],
    "track": [{"action": "track_event"}],
    "page": [{"action": "track_page"}],
    "screen": [{"action": "track_screen"}],
    "group": [{"action": "identify_object"}],
    "alias": [{"action": "merge_people"}],
}


def _rules(mapped_last: bool) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [
        {"id": f"r{n}", "when": when, "actions": [{"action": "drop"}]}
        for n, when in enumerate(NINETEEN)
    ]
    if not mapped_last:
        rules.append({"id": "r19", "when": 'event = "Never Sent"', "actions": [{"action": "drop"}]})
        return rules
    # The 20th rule is split by type only so that each type gets its action; an event
    # meets one of these six (20 evaluated, the first match maps it and stops).
    for kind, actions in _ACTIONS.items():
        rules.append({"id": f"map-{kind}", "when": f'type = "{kind}"', "actions": actions,
                      "stop": True})  # fmt: skip
    return rules


def rules_config(mapped_last: bool) -> CustomerIoConfig:
    return bench_config("v2", mappings={"rules": _rules(mapped_last)})


def _mapper(config: CustomerIoConfig) -> Callable[[str], Any]:
    compiled = config.compiled_mappings
    if compiled is None:
        return lambda line: map_event(line, config)
    return lambda line: map_with_rules(line, config, compiled)


def _map_only(config: CustomerIoConfig) -> Pipeline:
    run_map = _mapper(config)

    def run(lines: list[str]) -> int:
        return sum(isinstance(run_map(line), Mapped) for line in lines)

    return run


def _whole(config: CustomerIoConfig) -> Pipeline:
    run_map = _mapper(config)

    def run(lines: list[str]) -> int:
        size = 0
        for line in lines:
            mapped = run_map(line)
            if isinstance(mapped, Mapped):
                for op in mapped.operations:
                    size += len(encode_body(render_v2(op), op))
        return size

    return run


CHUNK = 250  # events per timed slice: short enough that a burst of load hits one slice


def sliced(runs: dict[str, Pipeline], lines: list[str], rounds: int) -> dict[str, list[float]]:
    """Seconds per event of each run, per slice of CHUNK events, the runs taking turns on
    each slice (the order rotating): side by side at a finer grain than whole rounds, as a
    busy machine needs for differences of a few percent."""
    names = list(runs)
    for name in names:
        runs[name](lines[:200])  # warm caches and the specializing interpreter first
    seconds: dict[str, list[float]] = {name: [] for name in names}
    turn = 0
    for _ in range(rounds):
        for start in range(0, len(lines), CHUNK):
            part = lines[start : start + CHUNK]
            turn += 1
            for name in names[turn % len(names) :] + names[: turn % len(names)]:
                begin = time.perf_counter()
                runs[name](part)
                seconds[name].append((time.perf_counter() - begin) / len(part))
    return seconds


def measure(lines: list[str], rounds: int) -> dict[str, Any]:
    configs = {
        "none": bench_config("v2"),
        "rules_20_fallback": rules_config(mapped_last=False),
        "rules_20_mapped": rules_config(mapped_last=True),
    }
    results: dict[str, Any] = {"events": len(lines), "rounds": rounds, "rules": 20}
    gc.collect()
    for label, make in (("map", _map_only), ("pipeline", _whole)):
        seconds = sliced({name: make(c) for name, c in configs.items()}, lines, rounds)
        base = seconds["none"]
        results[label] = {
            "fallback_over_none": round(ratio(seconds["rules_20_fallback"], base), 3),
            "mapped_over_none": round(ratio(seconds["rules_20_mapped"], base), 3),
            "none_us_per_event": round(statistics.median(base) * 1e6, 2),
        }
    return results
