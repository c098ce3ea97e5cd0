"""The cyclic collector waits while deliver() maps and packs a batch (collector.py)."""

from __future__ import annotations

import asyncio
import gc
import json

import httpx
import pytest

from signal_dest_cio import CustomerIoDestination
from signal_dest_cio.collector import collector_paused


def test_collector_is_off_inside_and_back_on_after() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_collector_comes_back_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # not turned on behind its owner's back
    finally:
        gc.enable()


def _event(i: int) -> str:
    return json.dumps(
        {"type": "track", "event": "Signed Up", "userId": f"user-{i % 50}",
         "messageId": f"m-{i}", "timestamp": "2026-01-02T03:04:05.678Z",
         "properties": {"plan": "pro", "seats": i, "nested": {"a": [1, 2, {"b": "c"}]}}}
    )  # fmt: skip


def _events(count: int) -> list[str]:
    return [_event(i) for i in range(count)]


def test_deliver_maps_a_batch_without_collecting_over_and_over() -> None:
    """3,000 events make hundreds of thousands of containers: unpaused, the collector
    runs dozens of times during the call; paused, only around the network part."""
    collections: list[int] = []

    def counted(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    config = {"site_id": "s", "tracking_api_key": "k", "api_key": "a", "region": "us", "api": "v2"}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    events = _events(3000)

    async def deliver() -> list[str]:
        async with CustomerIoDestination(config, transport=transport) as destination:
            gc.callbacks.append(counted)
            try:
                outcomes = await destination.deliver(events)
            finally:
                gc.callbacks.remove(counted)
        return [outcome.kind for outcome in outcomes]

    assert asyncio.run(deliver()) == ["delivered"] * 3000
    assert gc.isenabled()
    paused = len(collections)

    # The same call with the pause taken away collects far more often (the test's
    # own check that it measures something).
    from signal_dest_cio import client, destination

    def unpaused() -> collector_paused:  # type: ignore[valid-type]
        from contextlib import nullcontext

        return nullcontext()  # type: ignore[return-value]

    saved = (client.collector_paused, destination.collector_paused)
    client.collector_paused = destination.collector_paused = unpaused  # type: ignore[assignment]
    try:
        collections.clear()
        assert asyncio.run(deliver()) == ["delivered"] * 3000
    finally:
        client.collector_paused, destination.collector_paused = saved
    assert len(collections) > 4 * paused, (paused, len(collections))


def test_a_delivery_leaves_no_cycles_for_the_collector() -> None:
    """Everything a deliver() call made is freed by reference counting when it returns:
    with the collector held off during calls, garbage in cycles would pile up (a call's
    events, operations and outcomes, ~45 MB over 100,000 events, before this held)."""
    config = {"site_id": "s", "tracking_api_key": "k", "api_key": "a", "region": "us",
              "api": "v2"}  # fmt: skip
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))

    async def deliver() -> None:
        async with CustomerIoDestination(config, transport=transport) as destination:
            await destination.deliver(_events(50))  # connections, caches: made once
            gc.collect()
            gc.set_debug(gc.DEBUG_SAVEALL)
            try:
                outcomes = await destination.deliver(_events(500))
                assert {outcome.kind for outcome in outcomes} == {"delivered"}
                del outcomes
                gc.collect()
                left = [type(found).__name__ for found in gc.garbage]
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
        assert left == []

    asyncio.run(deliver())
