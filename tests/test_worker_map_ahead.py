"""While a round's requests are out, the worker maps the rows after it (host/ahead.py):
the next walk takes those mappings instead of mapping again, and decides as before."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import httpx
import pytest
from host_support import running_host, track

import signal_dest_cio.destination as destination_module
import signal_dest_cio.host.records as records_module
from signal_dest_cio import CustomerIoDestination
from signal_dest_cio.host.ahead import MappedAhead
from signal_dest_cio.host.pool import DestinationPool
from signal_dest_cio.host.records import Delivery

ROUND_TRIP = 0.05


class SlowCustomerIo:
    """Answers every data request 200 after a round trip; notes who was sent, in order."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path in ("/v1/workspaces", "/api/v1/accounts/region"):
            return httpx.Response(200, json={"region": "us", "workspaces": []})
        await asyncio.sleep(ROUND_TRIP)
        body = json.loads(request.content)
        batch = body["batch"]
        self.sent += [item["attributes"]["message"] for item in batch if "attributes" in item]
        return httpx.Response(200, json={})

    def transport(self) -> httpx.AsyncBaseTransport:
        return httpx.MockTransport(self.handle)


@pytest.mark.usefixtures("store_backend")
async def test_rows_after_a_round_are_mapped_while_it_waits_and_only_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = SlowCustomerIo()
    mapped: Counter[str] = Counter()
    real = destination_module.map_event

    def counting(raw: Any, config: Any) -> Any:
        assert isinstance(raw, str)  # handed the stored JSON text, decoded by the mapper
        mapped[json.loads(raw)["messageId"]] += 1
        return real(raw, config)

    monkeypatch.setattr(destination_module, "map_event", counting)
    async with running_host(target.transport) as host:
        integration = await host.install(verify=False)
        # What each walk took from the mapping ahead (made only while a round is out:
        # its requests may wait for the answer, or first for the workspace's pacer).
        handed: list[str] = []
        take = host.worker.ahead.take

        def spied(integration_id: str, destination: Any) -> dict[int, Any]:
            found = take(integration_id, destination)
            handed.extend(json.loads(text)["messageId"] for text, _ in found.values())
            return found

        monkeypatch.setattr(host.worker.ahead, "take", spied)
        events = [track(n) for n in range(250)]  # 100 a round: three rounds
        assert (await host.send(events)).status_code == 202
        await host.worker.drain()
        once = dict(mapped)  # (the deliveries API maps again, to show the requests)
        statuses = Counter(d["status"] for d in await host.deliveries(integration["id"]))
    assert statuses == {"delivered": 250}
    ids = [e["messageId"] for e in events]
    assert once == dict.fromkeys(ids, 1)  # the walk used what was mapped ahead
    assert handed  # later rounds' rows were mapped while a round was out
    assert set(handed) <= set(ids[100:])  # the first round's were mapped by its walk
    by_person: dict[str, list[str]] = {}
    for message in target.sent:  # each person's events went in the order they came
        by_person.setdefault(str(int(message.split("-")[1]) % 7), []).append(message)
    for messages in by_person.values():
        assert messages == sorted(messages, key=lambda m: int(m.split("-")[1]))


@pytest.mark.usefixtures("store_backend")
async def test_the_worker_decodes_no_stored_event_for_a_destination_that_reads_json_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Customer.io's destination is handed each stored event's JSON text: the host reads
    rows without decoding them (some twice: mapped ahead, then walked), the mapper once."""
    decoded: list[str] = []
    real = records_module.loads

    def counting(text: Any) -> Any:
        if "messageId" in text:
            decoded.append(text)
        return real(text)

    monkeypatch.setattr(records_module, "loads", counting)
    target = SlowCustomerIo()
    async with running_host(target.transport) as host:
        integration = await host.install(verify=False)
        assert (await host.send([track(n) for n in range(150)])).status_code == 202
        await host.worker.drain()
        assert decoded == []
        statuses = Counter(d["status"] for d in await host.deliveries(integration["id"]))
    assert statuses == {"delivered": 150}
    assert sorted(target.sent) == sorted(f"msg-{n}" for n in range(150))


def test_a_delivery_decodes_its_stored_event_once_when_asked() -> None:
    text = json.dumps({"type": "track", "messageId": "m-1", "event": "Ping"})
    delivery = Delivery(1, "int_1", "m-1", text, "pending", 0, 1.0, 1.0, 1.0, 1.0)
    assert delivery.event == json.loads(text)
    assert delivery.event is delivery.event  # decoded once, then kept
    assert DestinationPool.handed(CustomerIoDestination, delivery) is text
    assert DestinationPool.handed(object(), delivery) is delivery.event


async def test_the_round_goes_on_when_mapping_ahead_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = SlowCustomerIo()
    async with running_host(target.transport) as host:
        integration = await host.install(verify=False)

        async def broken(*args: Any) -> None:
            raise RuntimeError("the store went away")

        monkeypatch.setattr(host.worker.ahead, "map_while", broken)
        assert (await host.send([track(n) for n in range(150)])).status_code == 202
        await host.worker.drain()
        statuses = Counter(d["status"] for d in await host.deliveries(integration["id"]))
    assert statuses == {"delivered": 150}


@pytest.mark.usefixtures("store_backend")
async def test_an_integration_that_stops_keeps_nothing_mapped_ahead() -> None:
    """A paused (or disabled, or removed) integration's rows mapped ahead are let go:
    nothing of it stays in the worker's memory while it is stopped."""
    async with running_host(SlowCustomerIo().transport) as host:
        integration = await host.install(verify=False)
        worker, destination = host.worker, object()
        never: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        async def read(after_seq: int) -> list[Delivery]:
            return []

        await worker.ahead.map_while(integration["id"], destination, [row(1)], 0, read, never, 9)
        reason = {"code": "paused_by_test", "message": "", "at": 1.0}
        host.host.store.set_paused(integration["id"], reason, 1.0)
        await asyncio.wait_for(worker._run_integration(integration["id"]), 5)
        assert worker.ahead.take(integration["id"], destination) == {}


def row(number: int, lane_keys: list[str] | None = None) -> Delivery:
    return Delivery(number, "int_1", f"m{number}", {"n": number}, "pending", 0, 1.0, 1.0,
                    1.0, 1.0, seq=number, lane_keys=lane_keys)  # fmt: skip


async def test_a_mapping_is_handed_once_and_only_to_the_instance_that_made_it() -> None:
    calls: list[tuple[str, int]] = []

    def lane_keys(destination: Any, event: Any) -> list[str]:
        calls.append((destination, event["n"]))
        return [f"p:{event['n']}"]

    ahead = MappedAhead(lane_keys, DestinationPool.handed)
    pages = {2: [row(3), row(4)], 4: []}

    async def read(after_seq: int) -> list[Delivery]:
        return pages[after_seq]

    never: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    # Rows the walk read (one already has its keys), then the pages after them.
    await ahead.map_while("int_1", "one", [row(1, ["p:1"]), row(2)], 0, read, never, 10)
    assert calls == [("one", 2), ("one", 3), ("one", 4)]
    assert ahead.take("int_1", "another instance") == {}  # a new revision maps again
    await ahead.map_while("int_1", "one", [row(2)], 0, read, never, 10)
    found = ahead.take("int_1", "one")
    assert {key: keys for key, (_, keys) in found.items()} == {2: ["p:2"], 3: ["p:3"], 4: ["p:4"]}
    assert ahead.take("int_1", "one") == {}  # handed once


async def test_mapping_ahead_stops_when_the_answers_are_in_or_at_the_limit() -> None:
    ahead = MappedAhead(lambda destination, event: [f"p:{event['n']}"], DestinationPool.handed)
    rows = [row(n) for n in range(1, 40)]

    async def read(after_seq: int) -> list[Delivery]:
        raise AssertionError("nothing more is read")

    await ahead.map_while("int_1", "one", rows, 0, read, asyncio.ensure_future(_done()), 100)
    assert len(ahead.take("int_1", "one")) < len(rows)  # stopped at a look at the loop
    never: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    await ahead.map_while("int_1", "one", rows, 0, read, never, 5)
    assert sorted(ahead.take("int_1", "one")) == [1, 2, 3, 4, 5]


async def _done() -> None:
    return None
