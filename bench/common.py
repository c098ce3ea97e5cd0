"""What the benchmarks share: where the repository is, and the destination's config."""

from __future__ import annotations

from pathlib import Path

from signal_dest_cio.config import CustomerIoConfig

REPO = Path(__file__).resolve().parent.parent
SITE_ID, TRACK_KEY, APP_KEY = "bench-site", "bench-track-key", "bench-app-key"


def destination_config(base_url: str, api: str) -> CustomerIoConfig:
    """The destination pointed at the local server.

    `max_requests_per_second` is 10,000 (the most the config allows) so that the
    pacer is never what a benchmark measures; with the default 100 every client
    here would read 100 requests per second.
    """
    return CustomerIoConfig.model_validate(
        {"site_id": SITE_ID, "tracking_api_key": TRACK_KEY, "api_key": APP_KEY, "region": "us",
         "api": api, "track_api_base_url": base_url, "max_requests_per_second": 10_000}
    )  # fmt: skip
