"""The cyclic collector waits while deliver() maps and packs a batch (collector.py)."""

from __future__ import annotations

import asyncio
import gc
import json
import weakref
from typing import Any

import httpx
import pytest

from signal_dest_cio import CustomerIoDestination, collector
from signal_dest_cio.collector import collector_paused, paused_during


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


def test_overlapping_pauses_keep_it_off_until_the_last_one_ends() -> None:
    """Two deliver() calls on one loop: the first to end must not turn the collector on
    while the other is still mapping."""
    first, second = collector_paused(), collector_paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


def test_calls_that_keep_overlapping_still_free_cycles_as_each_ends() -> None:
    """A caller with the next call always out (f in the bench) never has none open: the
    collector must not stay off for good, or cycles made meanwhile would never be freed."""
    freed: list[weakref.ref[_Node]] = []
    blocks = [collector_paused()]
    blocks[0].__enter__()
    try:
        for _ in range(3):
            node = _Node()
            alive = weakref.ref(node, freed.append)
            del node
            for _ in range(collector.COLLECT_EVERY):
                # A call's own objects, alive as it ends: what the collector counts
                made = [[] for _ in range(3 * gc.get_threshold()[0])]
                blocks.append(collector_paused())
                blocks[-1].__enter__()  # the next call is out before the last one ends
                blocks.pop(0).__exit__(None, None, None)
                del made
            assert not gc.isenabled() and alive() is None
    finally:
        blocks.pop().__exit__(None, None, None)
    assert gc.isenabled() and len(freed) == 3


async def test_overlapping_awaited_calls_run_with_the_collector_off_throughout() -> None:
    """The call that turned it off ends first; the one still running keeps it off."""
    seen: list[bool] = []
    go_first, go_second = asyncio.Event(), asyncio.Event()

    async def call(go: asyncio.Event) -> None:
        await go.wait()
        seen.append(gc.isenabled())

    first = asyncio.ensure_future(paused_during(call(go_first)))
    second = asyncio.ensure_future(paused_during(call(go_second)))
    await asyncio.sleep(0)
    go_first.set()
    await first
    assert not gc.isenabled()  # the second call is still out
    go_second.set()
    await second
    assert seen == [False, False] and gc.isenabled()


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
    runs dozens of times during the call; paused, about once, after it."""
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
    from signal_dest_cio import destination

    async def not_paused(call: Any) -> Any:
        return await call

    saved = destination.paused_during
    destination.paused_during = not_paused  # type: ignore[assignment]
    try:
        collections.clear()
        assert asyncio.run(deliver()) == ["delivered"] * 3000
    finally:
        destination.paused_during = saved
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


def test_paused_during_covers_the_awaits_and_comes_back_after() -> None:
    seen: list[bool] = []

    async def call() -> str:
        seen.append(gc.isenabled())
        await asyncio.sleep(0)  # another task may run here: still paused
        seen.append(gc.isenabled())
        return "done"

    async def main() -> str:
        return await paused_during(call())

    assert asyncio.run(main()) == "done"
    assert seen == [False, False] and gc.isenabled()


def test_paused_during_comes_back_when_the_call_raises_and_leaves_an_off_collector_off() -> None:
    async def failing() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        asyncio.run(paused_during(failing()))
    assert gc.isenabled()
    gc.disable()
    try:
        asyncio.run(paused_during(asyncio.sleep(0)))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_deliver_is_collected_once_a_call_over_what_it_returned() -> None:
    """The collector comes back after the call's own objects are freed: the one young
    collection a call still causes walks the outcomes it returned (the young count is
    allocations less deallocations). Turned back on inside the call, after the mapping
    (as the pause around the mapping alone did), it collected four times a call here,
    walking every live event, operation and batch, and freed nothing."""
    config = {"site_id": "s", "tracking_api_key": "k", "api_key": "a", "region": "us", "api": "v2"}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    events = _events(2000)
    collections: list[int] = []

    def counted(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    async def deliver() -> None:
        async with CustomerIoDestination(config, transport=transport) as destination:
            await destination.deliver(_events(50))  # connections, caches: made once
            gc.collect()
            gc.callbacks.append(counted)
            try:
                for _ in range(3):
                    outcomes = await destination.deliver(events)
                    assert {outcome.kind for outcome in outcomes} == {"delivered"}
                    del outcomes
            finally:
                gc.callbacks.remove(counted)

    asyncio.run(deliver())
    assert len(collections) <= 3, collections
