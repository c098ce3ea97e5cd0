"""A host asks `lane_keys()` for an event, then delivers it: the event is mapped once."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import signal_dest_cio.destination as destination_module
from signal_dest_cio import CustomerIoDestination

CONFIG = {"site_id": "site-1", "tracking_api_key": "trk-KEY-1234", "api_key": "app-KEY-5678",
          "region": "us", "max_requests_per_second": 10_000}  # fmt: skip


def event(n: int) -> dict[str, Any]:
    return {"type": "track", "messageId": f"m{n}", "userId": f"u{n}", "event": "Played",
            "properties": {"n": n}, "timestamp": "2026-03-03T14:02:11Z"}  # fmt: skip


async def test_deliver_reuses_the_mapping_lane_keys_just_made_and_only_for_that_object(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    real = destination_module.map_event

    def counting(raw: Any, config: Any) -> Any:
        calls.append(raw["messageId"])
        return real(raw, config)

    monkeypatch.setattr(destination_module, "map_event", counting)
    sent: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.extend(json.loads(request.content)["batch"])
        return httpx.Response(200, json={})

    destination = CustomerIoDestination(CONFIG, transport=httpx.MockTransport(handler))
    first, second = event(1), event(2)
    assert destination.lane_keys(first) == ["p:u1"]
    assert destination.lane_keys(second) == ["p:u2"]
    equal_copy = dict(second)  # the same content, another object: mapped afresh
    outcomes = await destination.deliver([first, equal_copy])
    assert [o.kind for o in outcomes] == ["delivered", "delivered"]
    assert calls == ["m1", "m2", "m2"]
    # Used once: delivering the same object again maps it again.
    await destination.deliver([first])
    assert calls == ["m1", "m2", "m2", "m1"]
    assert [item["name"] for item in sent] == ["Played"] * 3
    await destination.aclose()
