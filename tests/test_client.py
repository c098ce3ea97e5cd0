"""Delivery through the Track API client, against httpx.MockTransport (SPEC sections 3 and 4)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any

import httpx
import pytest
from support import STATUS_OUTCOMES

from signal_dest_cio import CustomerIoDestination
from signal_dest_cio.client import (
    MAX_BATCH_BYTES,
    MAX_CONCURRENT_REQUESTS,
    REGION_PATH,
    RequestPacer,
    pacer_for,
)
from signal_dest_cio.config import CustomerIoConfig

JsonObject = dict[str, Any]
Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]

TIMESTAMP = "2024-05-01T12:00:00Z"
_site_ids = itertools.count()


def site_id() -> str:
    """A fresh workspace per destination, so no test shares another's pacer."""
    return f"site-{next(_site_ids)}"


def config(**options: Any) -> JsonObject:
    return {
        "site_id": site_id(),
        "tracking_api_key": "track-key",
        "api_key": "app-key",
        "region": "us",
        "api": "v1",
        "max_requests_per_second": 10_000,
        **options,
    }


def destination(handler: Handler, **options: Any) -> CustomerIoDestination:
    return CustomerIoDestination(config(**options), transport=httpx.MockTransport(handler))


def track(user: str, n: int = 0, name: str = "Order Completed", **properties: Any) -> JsonObject:
    return {
        "type": "track",
        "userId": user,
        "event": name,
        "messageId": f"{user}-{n}",
        "timestamp": TIMESTAMP,
        "properties": {"n": n, **properties},
    }


def body(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


def batch_items(request: httpx.Request) -> list[JsonObject]:
    items: list[JsonObject] = body(request)["batch"]
    return items


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={})


class Recorder:
    """A MockTransport handler that records every request and answers with `respond`."""

    def __init__(
        self,
        respond: Callable[[httpx.Request], httpx.Response] = ok,
        region: httpx.Response | None = None,
    ) -> None:
        self.respond = respond
        self.region = region or httpx.Response(200, json={"region": "us"})
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == REGION_PATH:
            return self.region
        return self.respond(request)

    @property
    def sent(self) -> list[httpx.Request]:
        """Requests that carried events (everything but the region lookup)."""
        return [r for r in self.requests if r.url.path != REGION_PATH]

    @property
    def region_lookups(self) -> int:
        return sum(r.url.path == REGION_PATH for r in self.requests)

    def calls(self) -> list[tuple[str, str]]:
        return [(r.method, r.url.raw_path.decode()) for r in self.sent]


async def deliver(handler: Handler, events: list[Any], **options: Any) -> list[Any]:
    async with destination(handler, **options) as dest:
        return await dest.deliver(events)


# -- the requests themselves -------------------------------------------------------------


@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_track_requests_carry_basic_auth_json_content_type_and_json_bodies(
    api: str,
) -> None:
    recorder = Recorder()
    options = config(api=api)
    async with CustomerIoDestination(options, transport=httpx.MockTransport(recorder)) as dest:
        await dest.deliver([track("u1"), {"type": "identify", "userId": "u1", "traits": {}}])
    expected = "Basic " + base64.b64encode(f"{options['site_id']}:track-key".encode()).decode()
    assert recorder.sent
    for request in recorder.sent:
        assert request.url.host == "track.customer.io"
        assert request.url.scheme == "https"
        assert request.headers["Authorization"] == expected
        assert request.headers["Content-Type"] == "application/json"
        assert isinstance(body(request), dict)


async def test_eu_workspace_is_sent_to_the_eu_track_host() -> None:
    recorder = Recorder()
    await deliver(recorder, [track("u1")], region="EU")
    assert [r.url.host for r in recorder.sent] == ["track-eu.customer.io"]


async def test_v1_sends_one_request_per_operation_with_its_method_and_path() -> None:
    recorder = Recorder()
    device = {"device": {"token": "tok/1", "type": "ios"}}
    events = [
        {"type": "identify", "userId": "a/b", "traits": {"plan": "pro"}},
        track("a/b"),
        {"type": "page", "userId": "a/b", "properties": {"url": "https://x.test/p"}},
        {"type": "alias", "userId": "a/b", "previousId": "old"},
        {"type": "track", "userId": "a/b", "event": "Device Deleted", "context": device},
        {"type": "track", "userId": "a/b", "event": "User Suppressed"},
        {"type": "track", "userId": "a/b", "event": "User Unsuppressed"},
        {"type": "track", "userId": "a/b", "event": "User Deleted"},
    ]
    outcomes = await deliver(recorder, events)
    assert [o.kind for o in outcomes] == ["delivered"] * len(events)
    # One person, so one chain: the requests arrive in input order too.
    assert recorder.calls() == [
        ("PUT", "/api/v1/customers/a%2Fb"),
        ("POST", "/api/v1/customers/a%2Fb/events"),
        ("POST", "/api/v1/customers/a%2Fb/events"),
        ("POST", "/api/v1/merge_customers"),
        ("DELETE", "/api/v1/customers/a%2Fb/devices/tok%2F1"),
        ("POST", "/api/v1/customers/a%2Fb/suppress"),
        ("POST", "/api/v1/customers/a%2Fb/unsuppress"),
        ("DELETE", "/api/v1/customers/a%2Fb"),
    ]


async def test_v1_anonymous_event_goes_to_the_events_endpoint_with_its_anonymous_id() -> None:
    recorder = Recorder()
    event = {"type": "track", "anonymousId": "anon-1", "event": "Viewed", "messageId": "m"}
    await deliver(recorder, [event])
    assert recorder.calls() == [("POST", "/api/v1/events")]
    assert body(recorder.sent[0])["anonymous_id"] == "anon-1"


def installed(user: str, n: int = 0) -> JsonObject:
    return {
        **track(user, n, name="Application Installed"),
        "context": {"device": {"token": f"token-{user}", "type": "ios"}},
    }


async def test_event_with_a_device_token_sends_the_device_then_the_event() -> None:
    recorder = Recorder()
    [outcome] = await deliver(recorder, [installed("u1")])
    assert outcome.kind == "delivered"
    assert recorder.calls() == [
        ("PUT", "/api/v1/customers/u1/devices"),
        ("POST", "/api/v1/customers/u1/events"),
    ]
    assert body(recorder.sent[0])["device"]["id"] == "token-u1"
    assert body(recorder.sent[1])["name"] == "Application Installed"


async def test_event_operations_stop_after_a_helper_that_must_be_retried() -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/devices"):
            return httpx.Response(503, json={"meta": {"error": "device refused"}})
        return httpx.Response(200, json={})

    recorder = Recorder(respond)
    [outcome] = await deliver(recorder, [installed("u1")])
    assert recorder.calls() == [("PUT", "/api/v1/customers/u1/devices")]
    assert (outcome.kind, outcome.status, outcome.message) == ("retry", 503, "device refused")


async def test_events_of_one_person_are_sent_in_order_and_never_overlap() -> None:
    seen: dict[str, list[int]] = {}
    in_flight: Counter[str] = Counter()
    overlapped: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        user = request.url.path.split("/")[4]
        n = body(request)["data"]["n"]
        seen.setdefault(user, []).append(n)
        in_flight[user] += 1
        if in_flight[user] > 1:
            overlapped.append(user)
        # Earlier events answer more slowly, so a client that did not wait would reorder.
        await asyncio.sleep(0.001 * (10 - n))
        in_flight[user] -= 1
        return httpx.Response(200, json={})

    users = ["alice", "bob", "carol"]
    events = [track(user, n) for n in range(10) for user in users]
    outcomes = await deliver(handler, events)
    assert [o.kind for o in outcomes] == ["delivered"] * len(events)
    assert overlapped == []
    assert seen == {user: list(range(10)) for user in users}


async def test_concurrent_requests_are_bounded() -> None:
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(200, json={})

    events = [track(f"user-{i}") for i in range(3 * MAX_CONCURRENT_REQUESTS)]
    outcomes = await deliver(handler, events)
    assert [o.kind for o in outcomes] == ["delivered"] * len(events)
    assert 1 < peak <= MAX_CONCURRENT_REQUESTS


# -- statuses, messages and retries through deliver() ------------------------------------


@pytest.mark.parametrize(("status", "kind", "code"), STATUS_OUTCOMES)
@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_delivery_outcome_follows_the_status(
    api: str, status: int, kind: str, code: str
) -> None:
    recorder = Recorder(lambda request: httpx.Response(status))
    [outcome] = await deliver(recorder, [track("u1", 7)], api=api)
    assert (outcome.kind, outcome.code, outcome.status) == (kind, code, status)
    assert outcome.message_id == "u1-7"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (httpx.ReadTimeout, "timeout"),
        (httpx.ConnectTimeout, "timeout"),
        (httpx.ConnectError, "connection_error"),
        (httpx.RemoteProtocolError, "connection_error"),
    ],
)
@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_requests_without_an_answer_are_retried(
    api: str, error: type[httpx.TransportError], code: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error("boom", request=request)

    [outcome] = await deliver(handler, [track("u1")], api=api)
    assert (outcome.kind, outcome.code, outcome.status) == ("retry", code, None)
    assert outcome.message_id == "u1-0"


@pytest.mark.parametrize(
    ("error_body", "message"),
    [
        ({"meta": {"error": "attribute too long"}}, "attribute too long"),
        ({"meta": {"errors": ["name is required"]}}, "name is required"),
        ({"errors": [{"field": "name", "message": "is required"}]}, "name: is required"),
    ],
)
async def test_message_comes_from_the_customerio_error_body(
    error_body: JsonObject, message: str
) -> None:
    recorder = Recorder(lambda request: httpx.Response(400, json=error_body))
    [outcome] = await deliver(recorder, [track("u1")])
    assert (outcome.kind, outcome.status, outcome.message) == ("rejected", 400, message)


async def test_warnings_of_the_mapping_are_carried_on_the_delivered_outcome() -> None:
    event = {**track("u1"), "timestamp": "not a time"}
    [outcome] = await deliver(Recorder(), [event])
    assert outcome.kind == "delivered"
    assert outcome.warnings == ("timestamp_invalid",)


@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_retry_after_seconds_header_is_carried(api: str) -> None:
    recorder = Recorder(lambda request: httpx.Response(429, headers={"Retry-After": "17"}))
    [outcome] = await deliver(recorder, [track("u1")], api=api)
    assert (outcome.kind, outcome.code, outcome.retry_after) == ("retry", "rate_limited", 17.0)


async def test_retry_after_http_date_header_is_seconds_from_now_capped_at_300() -> None:
    soon = httpx.Response(503, headers={"Retry-After": http_date_in(60)})
    late = httpx.Response(503, headers={"Retry-After": http_date_in(3600)})
    [first] = await deliver(Recorder(lambda request: soon), [track("u1")])
    [second] = await deliver(Recorder(lambda request: late), [track("u1")])
    assert first.retry_after is not None
    assert 40 < first.retry_after <= 60
    assert second.retry_after == 300.0


def http_date_in(seconds: float) -> str:
    return formatdate(time.time() + seconds, usegmt=True)


async def test_retry_after_garbage_or_absent_is_none() -> None:
    garbage = httpx.Response(429, headers={"Retry-After": "later please"})
    [first] = await deliver(Recorder(lambda request: garbage), [track("u1")])
    [second] = await deliver(Recorder(lambda request: httpx.Response(429)), [track("u1")])
    assert (first.kind, first.retry_after) == ("retry", None)
    assert (second.kind, second.retry_after) == ("retry", None)


# -- 401/403, the region check, redirects ------------------------------------------------


def refused(request: httpx.Request) -> httpx.Response:
    return httpx.Response(401, json={"meta": {"error": "Unauthorized request"}})


class SlowRefusals(Recorder):
    """Refuses every event with 401 after a short wait, so many refusals are in flight."""

    async def __call__(self, request: httpx.Request) -> httpx.Response:  # type: ignore[override]
        self.requests.append(request)
        if request.url.path == REGION_PATH:
            return self.region
        await asyncio.sleep(0.005)
        return refused(request)


@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_401_asks_the_region_once_per_delivery_even_with_many_requests_in_flight(
    api: str,
) -> None:
    recorder = SlowRefusals(region=httpx.Response(200, json={"region": "us"}))
    padding = "x" * 20_000  # v2: about 25 events per batch, so several batches at once
    events = [track(f"user-{i}", i, pad=padding) for i in range(60)]
    async with destination(recorder, api=api) as dest:
        first = await dest.deliver(events)
        assert recorder.region_lookups == 1
        assert len(recorder.sent) > 1  # several requests really were refused side by side
        second = await dest.deliver(events)
        assert recorder.region_lookups == 2
    for outcome in first + second:
        assert (outcome.kind, outcome.code, outcome.status) == (
            "config_error",
            "invalid_credentials",
            401,
        )
    assert [o.message_id for o in first] == [f"user-{i}-{i}" for i in range(60)]


@pytest.mark.parametrize(
    "region",
    [
        httpx.Response(200, json={"region": "us", "url": "https://track.customer.io"}),
        httpx.Response(401),
        httpx.Response(500),
        httpx.Response(200, text="not json"),
    ],
)
async def test_401_is_invalid_credentials_unless_the_region_endpoint_names_another_region(
    region: httpx.Response,
) -> None:
    recorder = Recorder(refused, region=region)
    [outcome] = await deliver(recorder, [track("u1")])
    assert (outcome.kind, outcome.code, outcome.status) == (
        "config_error",
        "invalid_credentials",
        401,
    )
    assert recorder.region_lookups == 1


@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_401_with_the_region_endpoint_naming_the_other_region_is_region_mismatch(
    api: str,
) -> None:
    region = httpx.Response(200, json={"region": "eu", "url": "https://track-eu.customer.io"})
    recorder = Recorder(refused, region=region)
    outcomes = await deliver(recorder, [track("u1"), track("u2")], api=api)
    for outcome in outcomes:
        assert (outcome.kind, outcome.code, outcome.status) == (
            "config_error",
            "region_mismatch",
            401,
        )
        assert "EU" in outcome.message
        assert "'eu'" in outcome.message
    region_lookup = next(r for r in recorder.requests if r.url.path == REGION_PATH)
    assert (region_lookup.method, region_lookup.url.host) == ("GET", "track.customer.io")


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_redirect_is_not_followed_and_pauses_the_integration(status: int) -> None:
    location = "https://elsewhere.example/api/v1/customers/u1/events"
    recorder = Recorder(lambda request: httpx.Response(status, headers={"Location": location}))
    [outcome] = await deliver(recorder, [track("u1")])
    assert (outcome.kind, outcome.code, outcome.status) == (
        "config_error",
        "redirect_refused",
        status,
    )
    assert {r.url.host for r in recorder.requests} == {"track.customer.io"}


@pytest.mark.parametrize("status", [301, 307])
@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_redirect_to_the_other_region_is_region_mismatch(api: str, status: int) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        location = f"https://track-eu.customer.io{request.url.path}"
        return httpx.Response(status, headers={"Location": location})

    recorder = Recorder(respond, region=httpx.Response(200, json={"region": "eu"}))
    [outcome] = await deliver(recorder, [track("u1")], api=api)
    assert (outcome.kind, outcome.code, outcome.status) == (
        "config_error",
        "region_mismatch",
        status,
    )
    assert "set region to 'eu'" in outcome.message
    assert all(r.url.host == "track.customer.io" for r in recorder.requests)


async def test_after_a_config_error_the_rest_of_the_call_is_not_sent() -> None:
    recorder = Recorder(refused)
    events = [track("u1", n) for n in range(20)]  # one person: one request at a time
    outcomes = await deliver(recorder, events)
    assert len(recorder.sent) == 1
    assert recorder.region_lookups == 1
    assert [(o.kind, o.code) for o in outcomes] == [("config_error", "invalid_credentials")] * 20
    assert [o.message_id for o in outcomes] == [f"u1-{n}" for n in range(20)]


async def test_after_a_config_error_waiting_requests_are_not_sent() -> None:
    recorder = SlowRefusals()
    events = [track(f"user-{i}") for i in range(10 * MAX_CONCURRENT_REQUESTS)]
    outcomes = await deliver(recorder, events)
    # Only the requests already on the wire when the first refusal came back were sent;
    # every other event waited for a slot or for the pacer and then stayed home.
    assert len(recorder.sent) <= MAX_CONCURRENT_REQUESTS
    assert {o.kind for o in outcomes} == {"config_error"}
    assert len(outcomes) == len(events)


async def test_after_a_v2_config_error_single_item_requests_are_not_sent_either() -> None:
    recorder = Recorder(refused)
    big = track("big", pad="x" * 40_000)
    outcomes = await deliver(recorder, [big, track("u1")], api="v2", max_requests_per_second=10)
    # The oversized event's v1 request goes first; the batch waits 100 ms for the pacer,
    # by which time that refusal has paused the call.
    assert recorder.calls() == [("POST", "/api/v1/customers/big/events")]
    assert [o.kind for o in outcomes] == ["config_error", "config_error"]


# -- v2 batches ----------------------------------------------------------------------------


def padded_events(count: int, *, start: int = 0, **extra: Any) -> list[JsonObject]:
    """Events of 2-5 KB each, their properties numbered so they can be found in batches."""
    return [
        track(f"user-{n}", n, pad="p" * (2000 + (n * 977) % 3000), **extra)
        for n in range(start, start + count)
    ]


def numbers_in(requests: list[httpx.Request]) -> list[int]:
    return [item["attributes"]["n"] for r in requests for item in batch_items(r)]


async def test_v2_packs_events_into_well_filled_batches_of_at_most_500_kb() -> None:
    recorder = Recorder()
    events = padded_events(500)
    outcomes = await deliver(recorder, events, api="v2")
    assert [o.kind for o in outcomes] == ["delivered"] * len(events)
    assert {r.url.path for r in recorder.sent} == {"/api/v2/batch"}
    sizes = sorted((len(r.content) for r in recorder.sent), reverse=True)
    assert len(sizes) > 1
    assert all(size <= 500 * 1024 for size in sizes)
    assert MAX_BATCH_BYTES == 500 * 1024
    # Events are small next to the limit, so every batch but the last is nearly full.
    assert all(size > 0.9 * 500 * 1024 for size in sizes[:-1])
    assert sorted(numbers_in(recorder.sent)) == list(range(500))


async def test_v2_batch_items_are_person_events_with_identifiers_and_dedup_ids() -> None:
    recorder = Recorder()
    await deliver(recorder, [track("u1", 3)], api="v2")
    [item] = batch_items(recorder.sent[0])
    assert item["type"] == "person"
    assert item["action"] == "event"
    assert item["identifiers"] == {"id": "u1"}
    assert item["name"] == "Order Completed"
    assert item["attributes"] == {"n": 3}
    assert len(item["id"]) == 26


async def test_v2_item_over_32_kb_is_sent_as_its_v1_request() -> None:
    recorder = Recorder()
    events = [track("small", 1), track("big", 2, pad="x" * 40_000)]
    outcomes = await deliver(recorder, events, api="v2")
    assert [o.kind for o in outcomes] == ["delivered", "delivered"]
    assert sorted(recorder.calls()) == [
        ("POST", "/api/v1/customers/big/events"),
        ("POST", "/api/v2/batch"),
    ]
    batch = next(r for r in recorder.sent if r.url.path == "/api/v2/batch")
    assert numbers_in([batch]) == [1]
    v1 = next(r for r in recorder.sent if r.url.path != "/api/v2/batch")
    assert body(v1)["data"]["n"] == 2


async def test_v2_207_rejects_the_listed_items_and_delivers_the_others() -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        errors = [
            {
                "batch_index": index,
                "reason": "invalid",
                "field": "attributes.n",
                "message": f"item {item['attributes']['n']} is bad",
            }
            for index, item in enumerate(batch_items(request))
            if item["attributes"].get("bad")
        ]
        return httpx.Response(207, json={"errors": errors})

    events = [track(f"u{n}", n, bad=n in (1, 3)) for n in range(5)]
    outcomes = await deliver(Recorder(respond), events, api="v2")
    assert [o.kind for o in outcomes] == [
        "delivered",
        "rejected",
        "delivered",
        "rejected",
        "delivered",
    ]
    for n in (1, 3):
        assert outcomes[n].status == 207
        assert outcomes[n].field == "attributes.n"
        assert f"item {n} is bad" in outcomes[n].message
    assert [o.message_id for o in outcomes] == [f"u{n}-{n}" for n in range(5)]


@pytest.mark.parametrize(("status", "code"), [(400, "bad_request"), (413, "payload_too_large")])
async def test_v2_whole_batch_refusal_is_split_so_only_the_bad_event_is_rejected(
    status: int, code: str
) -> None:
    delivered: list[int] = []

    def respond(request: httpx.Request) -> httpx.Response:
        numbers = [item["attributes"]["n"] for item in batch_items(request)]
        if 13 in numbers:
            return httpx.Response(status, json={"errors": [{"message": "event 13 is bad"}]})
        delivered.extend(numbers)
        return httpx.Response(200, json={})

    recorder = Recorder(respond)
    events = [track(f"u{n}", n) for n in range(40)]
    outcomes = await deliver(recorder, events, api="v2")
    assert [o.kind for o in outcomes] == ["rejected" if n == 13 else "delivered" for n in range(40)]
    assert (outcomes[13].code, outcomes[13].status) == (code, status)
    assert outcomes[13].message == "event 13 is bad"
    # Every good event is accepted exactly once, and splitting stays logarithmic.
    assert sorted(delivered) == [n for n in range(40) if n != 13]
    assert len(recorder.sent) <= 2 * 7


async def test_v2_429_on_a_batch_retries_every_event_in_it() -> None:
    recorder = Recorder(lambda request: httpx.Response(429, headers={"Retry-After": "12"}))
    outcomes = await deliver(recorder, [track(f"u{n}", n) for n in range(5)], api="v2")
    assert len(recorder.sent) == 1
    assert [(o.kind, o.code, o.retry_after) for o in outcomes] == [
        ("retry", "rate_limited", 12.0)
    ] * 5


async def test_v2_event_with_several_items_takes_the_worst_outcome() -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        errors = [
            {"batch_index": index, "message": "bad traits"}
            for index, item in enumerate(batch_items(request))
            if item["action"] == "identify"
        ]
        return httpx.Response(207, json={"errors": errors})

    with_traits = track("u1") | {"context": {"traits": {"plan": "pro"}}}
    outcomes = await deliver(
        Recorder(respond), [with_traits, track("u2")], api="v2", identify_on_track=True
    )
    assert [(o.kind, o.message) for o in outcomes] == [
        ("rejected", "bad traits"),
        ("delivered", ""),
    ]


# -- outcomes per input event ------------------------------------------------------------


@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_outcomes_come_back_one_per_event_in_input_order(api: str) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v2/batch":
            errors = [
                {"batch_index": index, "message": "refused"}
                for index, item in enumerate(batch_items(request))
                if item["identifiers"] == {"id": "bad"}
            ]
            return httpx.Response(207, json={"errors": errors})
        if "/customers/bad/" in request.url.path:
            return httpx.Response(400, json={"meta": {"error": "refused"}})
        return httpx.Response(200, json={})

    denied = {**track("u3", 3), "context": {"consent": {"marketing": False}}}
    events = [
        track("u1", 1),
        {"type": "identify", "messageId": "no-person", "traits": {"plan": "pro"}},
        denied,
        {"type": "page", "userId": "u2", "messageId": "page", "properties": {"url": "https://x"}},
        track("bad", 5),
        {"type": "track", "userId": "u4", "messageId": "no-name"},
        {"type": "group", "userId": "u5", "groupId": "acme", "messageId": "group"},
    ]
    outcomes = await deliver(Recorder(respond), events, api=api)
    assert [(o.message_id, o.kind, o.code) for o in outcomes] == [
        ("u1-1", "delivered", "ok"),
        ("no-person", "rejected", "missing_identifier"),
        ("u3-3", "filtered", "consent_denied"),
        ("page", "delivered", "ok"),
        ("bad-5", "rejected", "bad_request" if api == "v1" else "item_rejected"),
        ("no-name", "rejected", "missing_event_name"),
        ("group", "delivered", "ok"),
    ]
    assert outcomes[4].message == "refused"


async def test_delivery_of_only_refused_events_sends_nothing() -> None:
    recorder = Recorder()
    outcomes = await deliver(recorder, [{"type": "identify"}, "not json at all {"])
    assert [o.kind for o in outcomes] == ["rejected", "rejected"]
    assert recorder.requests == []


# -- pacing ------------------------------------------------------------------------------


async def test_pacer_spaces_request_starts_by_the_rate() -> None:
    pacer = RequestPacer(50)
    started = time.monotonic()
    for _ in range(11):
        await pacer.wait()
    # 11 starts at 50/s span at least 10 intervals of 20 ms (sleeping only adds to it).
    assert time.monotonic() - started >= 0.19


async def test_client_paces_requests_to_max_requests_per_second() -> None:
    events = [track(f"user-{i}") for i in range(11)]
    started = time.monotonic()
    outcomes = await deliver(Recorder(), events, max_requests_per_second=50)
    assert time.monotonic() - started >= 0.19
    assert [o.kind for o in outcomes] == ["delivered"] * 11


def test_clients_of_the_same_workspace_share_one_pacer() -> None:
    first = CustomerIoConfig.model_validate(config(site_id="shared", max_requests_per_second=7))
    second = CustomerIoConfig.model_validate(
        config(site_id="shared", max_requests_per_second=7, tracking_api_key="other", api="v2")
    )
    other_site = CustomerIoConfig.model_validate(config(max_requests_per_second=7))
    other_region = CustomerIoConfig.model_validate(
        config(site_id="shared", max_requests_per_second=7, region="eu")
    )
    assert pacer_for(first) is pacer_for(second)
    assert pacer_for(first) is not pacer_for(other_site)
    assert pacer_for(first) is not pacer_for(other_region)


async def test_two_destinations_of_one_workspace_share_the_rate() -> None:
    options = config(max_requests_per_second=50)
    started = time.monotonic()
    async with (
        CustomerIoDestination(options, transport=httpx.MockTransport(Recorder())) as one,
        CustomerIoDestination(options, transport=httpx.MockTransport(Recorder())) as two,
    ):
        await asyncio.gather(
            one.deliver([track(f"a{i}") for i in range(6)]),
            two.deliver([track(f"b{i}") for i in range(6)]),
        )
    # 12 starts between them at 50/s: at least 11 intervals of 20 ms.
    assert time.monotonic() - started >= 0.21


def test_events_sharing_any_identity_form_one_ordered_chain() -> None:
    from signal_dest_cio.lanes import lane_groups, lane_keys
    from signal_dest_cio.mapping import map_event
    from signal_dest_cio.operations import Mapped

    config = CustomerIoConfig(
        site_id="chains", tracking_api_key="k-chain", api_key="a-chain", region="us"
    )
    raw = [
        {"type": "page", "anonymousId": "anon-1", "name": "Home"},
        {"type": "identify", "userId": "old-id", "traits": {"plan": "x"}},
        {"type": "track", "userId": "someone-else", "event": "Other"},
        {"type": "identify", "userId": "u1", "anonymousId": "anon-1"},
        {"type": "alias", "userId": "u1", "previousId": "old-id"},
    ]
    mapped = [map_event(event, config) for event in raw]
    assert all(isinstance(m, Mapped) for m in mapped)

    chains = sorted(lane_groups([lane_keys(m) for m in mapped]))  # type: ignore[arg-type]

    assert chains == [[0, 1, 3, 4], [2]]


async def test_a_cancelled_wait_gives_its_rate_limit_slot_back() -> None:
    pacer = RequestPacer(10)  # a slot every 100 ms
    await pacer.wait()  # the first slot is now
    first_free = pacer.reserved_until()
    waiters = [asyncio.create_task(pacer.wait()) for _ in range(5)]
    await asyncio.sleep(0)
    assert pacer.reserved_until() >= first_free + 0.49  # five more slots taken
    for waiter in waiters:
        waiter.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    assert pacer.reserved_until() == first_free  # nothing left reserved by them


async def test_cancelling_deliver_leaves_no_rate_limit_slot_reserved() -> None:
    started = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        started.set()
        return httpx.Response(200, json={})

    options = config(max_requests_per_second=5)
    async with destination(handler, **options) as dest:
        events = [track(f"p{n}") for n in range(20)]  # 20 people: 20 requests side by side
        delivery = asyncio.create_task(dest.deliver(events))
        await started.wait()
        delivery.cancel()
        with pytest.raises(asyncio.CancelledError):
            await delivery
        pacer = pacer_for(dest.config)
        # One request went; at most one more slot (the one after it) is spoken for.
        assert pacer.reserved_until() <= time.monotonic() + 2 * pacer.interval


@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_a_refused_device_request_does_not_cost_the_event(api: str) -> None:
    sent: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append((request.method, request.url.path))
        if request.method == "PUT" and request.url.path.endswith("/devices"):
            return httpx.Response(400, json={"meta": {"error": "bad device"}})
        if request.url.path == "/api/v2/batch":
            items = batch_items(request)
            errors = [
                {"batch_index": i, "reason": "invalid", "message": "bad device"}
                for i, item in enumerate(items)
                if item.get("action") == "add_device"
            ]
            return httpx.Response(207 if errors else 200, json={"errors": errors})
        return httpx.Response(200, json={})

    installed = track("p1", name="Application Installed")
    installed["context"] = {"device": {"token": "tok-1", "type": "ios"}}
    async with destination(handler, api=api) as dest:
        [outcome] = await dest.deliver([installed])
    assert outcome.kind == "delivered"
    assert any(w.startswith("helper_refused:add_device") for w in outcome.warnings)
    if api == "v1":
        assert sent == [
            ("PUT", "/api/v1/customers/p1/devices"),
            ("POST", "/api/v1/customers/p1/events"),
        ]
