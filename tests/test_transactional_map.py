"""The integration's `transactional` map (SPEC 10): a track event of a named kind also sends
a transactional email to its person, in the event's lane, through the App API."""

from __future__ import annotations

import itertools
import json
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from signal_dest_cio import CustomerIoDestination
from signal_dest_cio.config import CustomerIoConfig

_sites = itertools.count()
MAP = {"Order Completed": {"message_id": 7}}


def order(n: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": f"o{n}",
        "userId": "u1",
        "event": "Order Completed",
        "timestamp": "2026-03-02T09:15:04Z",
        "properties": {"email": "ada@example.com", "order": f"A-{n}"},
        **extra,
    }


def config(api: str = "v2", **options: Any) -> dict[str, Any]:
    if api == "pipelines":
        return {
            "api": "pipelines",
            "cdp_api_key": f"cdp-{next(_sites)}",
            "api_key": "app-key",
            "region": "us",
            "transactional": MAP,
            "max_requests_per_second": 10_000,
            **options,
        }
    return {
        "site_id": f"tx-{next(_sites)}",
        "tracking_api_key": "trk",
        "api_key": "app-key",
        "region": "us",
        "api": api,
        "transactional": MAP,
        "max_requests_per_second": 10_000,
        **options,
    }


class Recorder:
    def __init__(self, answer: Any = None) -> None:
        self.sent: list[httpx.Request] = []
        self.answer = answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        if request.url.path == "/v1/send/email" and self.answer is not None:
            if isinstance(self.answer, Exception):
                raise self.answer
            return self.answer  # type: ignore[no-any-return]
        if request.url.path == "/v1/send/email":
            return httpx.Response(200, json={"delivery_id": "d-1", "queued_at": 1})
        return httpx.Response(200, json={})


async def deliver(recorder: Recorder, events: list[Any], api: str = "v2") -> list[Any]:
    transport = httpx.MockTransport(recorder)
    async with CustomerIoDestination(
        config(api), transport=transport, app_transport=transport
    ) as destination:
        return await destination.deliver(events)


@pytest.mark.parametrize("api", ["v1", "v2", "pipelines"])
async def test_a_mapped_event_is_tracked_then_its_email_is_sent(api: str) -> None:
    recorder = Recorder()
    [outcome] = await deliver(recorder, [order()], api)
    assert outcome.kind == "delivered"
    hosts = [(r.url.host, r.url.path) for r in recorder.sent]
    assert hosts[-1] == ("api.customer.io", "/v1/send/email")  # after the event itself
    assert len(hosts) == 2
    send = recorder.sent[-1]
    assert send.headers["authorization"] == "Bearer app-key"
    assert json.loads(send.content) == {
        "transactional_message_id": 7,
        "to": "ada@example.com",
        "identifiers": {"id": "u1"},
        "message_data": {"email": "ada@example.com", "order": "A-1"},
    }


async def test_other_events_send_nothing_and_a_person_without_email_is_warned() -> None:
    recorder = Recorder()
    other = order() | {"event": "Order Viewed"}
    no_email = order(2) | {"properties": {"order": "A-2"}}
    outcomes = await deliver(recorder, [other, no_email])
    assert [o.kind for o in outcomes] == ["delivered", "delivered"]
    assert "transactional_skipped:no_email" in outcomes[1].warnings
    assert all(r.url.path != "/v1/send/email" for r in recorder.sent)


@pytest.mark.parametrize(
    ("answer", "kind", "code"),
    [
        (httpx.ReadTimeout("late"), "rejected", "outcome_unknown"),
        (httpx.Response(429, headers={"Retry-After": "4"}), "retry", "rate_limited"),
        (httpx.ConnectError("refused"), "retry", "connection_error"),
    ],
)
async def test_a_send_that_may_have_gone_is_dead_lettered_never_retried(
    answer: Any, kind: str, code: str
) -> None:
    recorder = Recorder(answer)
    later = {"type": "track", "messageId": "o9", "userId": "u1", "event": "x"}
    outcomes = await deliver(recorder, [order(), later])
    assert (outcomes[0].kind, outcomes[0].code) == (kind, code)
    sends = [r for r in recorder.sent if r.url.path == "/v1/send/email"]
    assert len(sends) == 1
    if kind == "retry":  # the lane waits for the send, as for any request of it
        assert outcomes[1].code == "held"


def test_preview_shows_the_send_at_the_app_api() -> None:
    destination = CustomerIoDestination(config("v1"))
    urls = [r["url"] for r in destination.preview(order()).as_json()["requests"]]
    assert urls[-1] == "https://api.customer.io/v1/send/email"


def test_a_map_entry_without_a_message_id_is_a_config_error_naming_it() -> None:
    with pytest.raises(ValidationError) as caught:
        CustomerIoConfig.model_validate(config() | {"transactional": {"Order Completed": {}}})
    assert any(e["loc"][:2] == ("transactional", "Order Completed") for e in caught.value.errors())
