"""The sharded transport and the lane workers: many requests in flight, cheaply, in order."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from typing import Any

import httpx
import pytest

from signal_dest_cio import CustomerIoDestination
from signal_dest_cio.client import MAX_CONCURRENT_REQUESTS, TrackClient
from signal_dest_cio.config import CustomerIoConfig
from signal_dest_cio.transports import CONNECTIONS_PER_SHARD, PoolTransport, ShardedTransport

_sites = itertools.count()


def config(**options: Any) -> dict[str, Any]:
    return {
        "site_id": f"shard-site-{next(_sites)}",
        "tracking_api_key": "track-key",
        "api_key": "app-key",
        "region": "us",
        "api": "v1",
        "max_requests_per_second": 10_000,
        **options,
    }


class Gate:
    """A handler that holds every request until released, counting those in flight."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.in_flight = 0
        self.most = 0
        self.seen: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await self.open.wait()
        finally:
            self.in_flight -= 1
        return httpx.Response(200, json={})


def test_connections_are_split_into_pools_of_four_sharing_one_tls_context(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[object] = []
    real = httpx.create_ssl_context

    def counted(*args: Any, **kwargs: Any) -> Any:
        made.append(context := real(*args, **kwargs))
        return context

    monkeypatch.setattr(httpx, "create_ssl_context", counted)
    transport = ShardedTransport(64)

    assert len(transport.shards) == 64 // CONNECTIONS_PER_SHARD
    assert all(isinstance(shard, PoolTransport) for shard in transport.shards)
    assert len(made) == 1  # one context (one CA bundle loaded) for every shard
    assert {id(shard.ssl_context) for shard in transport.shards} == {id(made[0])}
    assert len(ShardedTransport(5).shards) == 2  # rounded up


async def test_each_request_goes_to_the_least_busy_shard_and_is_counted_until_read() -> None:
    transport = ShardedTransport(16)
    gates = [Gate() for _ in transport.shards]
    transport.shards = [httpx.MockTransport(gate) for gate in gates]  # type: ignore[misc]

    async def send() -> httpx.Response:
        return await transport.handle_async_request(httpx.Request("POST", "https://x.io/a"))

    sending = [asyncio.create_task(send()) for _ in range(6)]
    await asyncio.sleep(0.01)
    # Spread out: never a second on one shard while another has fewer.
    assert transport.in_flight == [2, 2, 1, 1]
    assert [gate.in_flight for gate in gates] == [2, 2, 1, 1]
    for gate in gates:
        gate.open.set()
    responses = await asyncio.gather(*sending)
    assert transport.in_flight == [0, 0, 0, 0]
    assert all(response.content == b"{}" for response in responses)  # read already


async def test_a_failed_request_is_taken_off_its_shards_count() -> None:
    transport = ShardedTransport(8)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    transport.shards = [httpx.MockTransport(refuse) for _ in transport.shards]  # type: ignore[misc]
    with pytest.raises(httpx.ConnectError):
        await transport.handle_async_request(httpx.Request("GET", "https://x.io/"))
    assert transport.in_flight == [0, 0]


async def test_the_client_shards_only_its_own_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    own = TrackClient(CustomerIoConfig.model_validate(config()))
    assert isinstance(own._transport, ShardedTransport)
    given = httpx.MockTransport(lambda request: httpx.Response(200))
    passed = TrackClient(CustomerIoConfig.model_validate(config()), transport=given)
    assert passed._transport is given  # tests' and users' transports are used as they are
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    proxied = TrackClient(CustomerIoConfig.model_validate(config()))
    assert proxied._transport is None  # httpx's own transport, which honours the proxy
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.setattr(sys, "platform", "win32")  # the proactor loop has no add_reader
    windows = TrackClient(CustomerIoConfig.model_validate(config()))
    assert windows._transport is None
    for client in (own, passed, proxied, windows):
        await client.aclose()


async def test_requests_built_whole_carry_what_the_client_would_send() -> None:
    gate = Gate()
    gate.open.set()
    async with CustomerIoDestination(config(), transport=httpx.MockTransport(gate)) as destination:
        event = {"type": "identify", "userId": "u 1", "traits": {"plan": "pro"}, "messageId": "m"}
        [outcome] = await destination.deliver([event])

    assert outcome.kind == "delivered"
    [request] = gate.seen
    assert str(request.url) == "https://track.customer.io/api/v1/customers/u%201"
    assert request.headers["Authorization"].startswith("Basic ")
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("signal-dest-cio/")
    assert request.headers["Content-Length"] == str(len(request.content))
    assert request.extensions["timeout"]["read"] == 10.0


async def test_workers_take_the_longest_lane_first_and_keep_every_lane_in_order() -> None:
    gate = Gate()
    events = [
        {"type": "track", "userId": f"one-{n}", "event": "E", "messageId": f"s{n}"}
        for n in range(150)
    ]
    long_lane = [
        {"type": "track", "userId": "busy", "event": "E", "properties": {"n": n}} for n in range(20)
    ]
    events[100:100] = long_lane  # the long lane's events come late in the input
    async with CustomerIoDestination(config(), transport=httpx.MockTransport(gate)) as destination:
        delivering = asyncio.create_task(destination.deliver(events))
        await asyncio.sleep(0.05)
        first_wave = list(gate.seen)
        gate.open.set()
        outcomes = await delivering

    assert [outcome.kind for outcome in outcomes] == ["delivered"] * len(events)
    assert len(first_wave) == MAX_CONCURRENT_REQUESTS  # no more than that in flight
    assert first_wave[0].url.path == "/api/v1/customers/busy/events"  # the long lane first
    busy = [r for r in gate.seen if r.url.path == "/api/v1/customers/busy/events"]
    assert [json.loads(r.content)["data"]["n"] for r in busy] == list(range(20))  # in order
    assert gate.most == MAX_CONCURRENT_REQUESTS
