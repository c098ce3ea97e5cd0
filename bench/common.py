"""What the benchmarks share: where the repository is, the destination's config, and how
contenders are interleaved."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from signal_dest_cio.config import CustomerIoConfig

REPO = Path(__file__).resolve().parent.parent
SITE_ID, TRACK_KEY, APP_KEY = "bench-site", "bench-track-key", "bench-app-key"
Sample = TypeVar("Sample")


def destination_config(base_url: str, api: str) -> CustomerIoConfig:
    """The destination pointed at the local server.

    `max_requests_per_second` is 10,000 (the most the config allows) so that the
    pacer is never what a benchmark measures; with the default 100 every client
    here would read 100 requests per second.
    """
    if api == "pipelines":  # the Data Pipelines API, at the same server's /v1
        return CustomerIoConfig.model_validate(
            {"api": "pipelines", "cdp_api_key": TRACK_KEY, "region": "us",
             "pipelines_api_base_url": base_url + "/v1", "max_requests_per_second": 10_000}
        )  # fmt: skip
    return CustomerIoConfig.model_validate(
        {"site_id": SITE_ID, "tracking_api_key": TRACK_KEY, "api_key": APP_KEY, "region": "us",
         "api": api, "track_api_base_url": base_url, "max_requests_per_second": 10_000}
    )  # fmt: skip


def interleaved(
    names: Sequence[str], rounds: int, run_one: Callable[[str], Sample]
) -> dict[str, list[Sample]]:
    """`run_one(name)` for every name, `rounds` times, the order rotating each round.

    Load from elsewhere on the machine then falls on every contender alike, and a
    ratio taken within a round compares things measured seconds apart.
    """
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in [*names[shift:], *names[:shift]]:
            samples[name].append(run_one(name))
    return samples


def median_ratio(tops: Sequence[float], bottoms: Sequence[float], digits: int = 2) -> float:
    """The median of per-round ratios."""
    return round(statistics.median(t / b for t, b in zip(tops, bottoms, strict=True)), digits)
