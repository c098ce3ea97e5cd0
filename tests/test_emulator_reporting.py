"""Emulator: signed reporting webhooks about its transactional sends, checked against
Customer.io's published `reporting-webhooks.openapi.json` and the destination's verifier."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, get_args

import httpx
import pytest
from emulator_support import NOW, US, app_for, new_state, track_client
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from openapi import openapi_path
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from signal_dest_cio.emulator import EmulatorState
from signal_dest_cio.emulator.reporting import EmailMetric, post_webhooks
from signal_dest_cio.webhooks import WebhookRefused, to_track_event, verify

KEY = "whsec-REPORTING-7777"
DOCUMENT_URI = "urn:customerio:reporting-webhooks"
RECEIPT = {
    "transactional_message_id": "order_receipt",
    "to": '"Ada" <ada@example.com>',
    "identifiers": {"id": "u1"},
    "message_data": {"order_id": "A-1"},
}
METRICS: tuple[str, ...] = get_args(EmailMetric)


@functools.cache
def webhook_validator() -> Draft202012Validator:
    """The request body schema of the file's `reportingWebhook`, refs resolved in the file.

    Its `oneOf`s are kept strict: they do not overlap for these bodies (object_type and
    metric are enums per branch, and `data` carries only the "Transactional message"
    branch's keys of `event_common_data`), so each body must match exactly one branch.
    """
    path = openapi_path().parent / "reporting-webhooks.openapi.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry = Registry().with_resource(DOCUMENT_URI, resource)
    operation = f"{DOCUMENT_URI}#/webhooks/reportingWebhook/post/requestBody/content"
    schema = {"$ref": f"{operation}/application~1json/schema"}
    return Draft202012Validator(schema, registry=registry)


async def sent(state: EmulatorState, body: dict[str, Any] = RECEIPT) -> str:
    """Send a receipt through the App API; its delivery id."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app_for(state)),
        base_url="https://api.customer.io",
        headers={"Authorization": f"Bearer {US.app_api_key}"},
    ) as client:
        response = await client.post("/v1/send/email", json=body)
    assert response.status_code == 200, response.text
    delivery_id: str = response.json()["delivery_id"]
    return delivery_id


async def known_state() -> tuple[EmulatorState, str]:
    state = new_state()
    async with track_client(state) as track:
        await track.put("/api/v1/customers/u1", json={"email": "ada@example.com"})
    return state, await sent(state)


# -- the bodies -----------------------------------------------------------------------


@pytest.mark.parametrize("metric", METRICS)
async def test_every_email_metric_s_body_validates_against_the_published_file(
    metric: str,
) -> None:
    state, delivery_id = await known_state()
    [(_headers, raw)] = state.reporting_webhooks(
        US.site_id, KEY, [{"metric": metric, "delivery_id": delivery_id}]
    )
    body = json.loads(raw)
    webhook_validator().validate(body)
    assert body["object_type"] == "email" and body["metric"] == metric
    assert body["timestamp"] == NOW
    data = body["data"]
    assert data["delivery_id"] == delivery_id
    assert data["transactional_message_id"] == 7
    assert data["customer_id"] == "u1"
    assert data["identifiers"] == {"id": "u1", "email": "ada@example.com", "cio_id": "01000001"}
    assert data["recipient"] == "ada@example.com"
    assert data["subject"] == "Your receipt for order A-1"
    assert ("href" in data) == (metric == "clicked")
    assert ("failure_message" in data) == (
        metric in {"attempted", "bounced", "dropped", "failed", "undeliverable"}
    )


def test_the_validator_refuses_a_body_missing_what_the_metric_requires() -> None:
    body = {
        "event_id": "01E4C4CT6YDC7Y5M7FE1GWWPQJ",
        "object_type": "email",
        "metric": "clicked",
        "timestamp": NOW,
        "data": {
            "transactional_message_id": 7,
            "delivery_id": "d1",
            "identifiers": {"id": "u1"},
            "recipient": "ada@example.com",
            "subject": "s",
            "link_id": 1,
        },
    }
    with pytest.raises(ValidationError):
        webhook_validator().validate(body)  # a click without its href
    webhook_validator().validate(body | {"data": body["data"] | {"href": "https://x.test/"}})


async def test_a_click_carries_the_href_and_link_given() -> None:
    state, delivery_id = await known_state()
    event = {"metric": "clicked", "delivery_id": delivery_id, "href": "https://shop.test/a"}
    [(_, raw)] = state.reporting_webhooks(US.site_id, KEY, [event | {"link_id": 4}])
    data = json.loads(raw)["data"]
    assert (data["href"], data["link_id"]) == ("https://shop.test/a", 4)
    webhook_validator().validate(json.loads(raw))


async def test_each_webhook_gets_a_fresh_ulid_and_is_listed_on_its_send() -> None:
    state, _delivery_id = await known_state()
    made = state.reporting_webhooks(US.site_id, KEY, metric="delivered")
    made += state.reporting_webhooks(US.site_id, KEY, metric="delivered")
    ids = [json.loads(raw)["event_id"] for _, raw in made]
    assert len(set(ids)) == 2
    for event_id in ids:
        assert len(event_id) == 26 and set(event_id) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    [send] = state.sends_view(US.site_id)
    assert send["webhooks"] == [
        {"event_id": event_id, "metric": "delivered", "timestamp": NOW} for event_id in ids
    ]


async def test_a_metric_alone_makes_one_webhook_per_send_in_order() -> None:
    state, first = await known_state()
    second = await sent(state, RECEIPT | {"identifiers": {"email": "bo@example.com"}})
    made = state.reporting_webhooks(US.site_id, KEY, metric="opened")
    bodies = [json.loads(raw) for _, raw in made]
    assert [b["data"]["delivery_id"] for b in bodies] == [first, second]
    assert bodies[1]["data"]["customer_id"] == ""  # bo has no id
    assert bodies[1]["data"]["identifiers"]["email"] == "bo@example.com"
    for body in bodies:
        webhook_validator().validate(body)


async def test_the_identifiers_are_the_person_s_now_and_blank_once_they_are_gone() -> None:
    state, _delivery_id = await known_state()
    async with track_client(state) as track:
        await track.put("/api/v1/customers/cio_01000001", json={"email": "new@example.com"})
        [(_, renamed)] = state.reporting_webhooks(US.site_id, KEY, metric="opened")
        await track.delete("/api/v1/customers/u1")
        [(_, gone)] = state.reporting_webhooks(US.site_id, KEY, metric="converted")
    assert json.loads(renamed)["data"]["identifiers"]["email"] == "new@example.com"
    data = json.loads(gone)["data"]
    assert data["customer_id"] == ""
    assert data["identifiers"] == {"id": "u1", "email": None, "cio_id": "01000001"}
    webhook_validator().validate(json.loads(gone))


async def test_an_unknown_delivery_or_metric_is_refused_before_anything_is_made() -> None:
    state, delivery_id = await known_state()
    with pytest.raises(ValueError, match="no-such-delivery"):
        state.reporting_webhooks(
            US.site_id,
            KEY,
            [
                {"metric": "opened", "delivery_id": delivery_id},
                {"metric": "opened", "delivery_id": "no-such-delivery"},
            ],
        )
    with pytest.raises(ValueError):
        state.reporting_webhooks(US.site_id, KEY, [{"metric": "read", "delivery_id": delivery_id}])
    assert state.sends_view(US.site_id)[0]["webhooks"] == []


# -- signatures -----------------------------------------------------------------------


async def test_the_signature_verifies_with_the_destination_s_verifier() -> None:
    state, _ = await known_state()
    [(headers, raw)] = state.reporting_webhooks(US.site_id, KEY, metric="delivered")
    assert headers["Content-Type"] == "application/json"
    assert headers["X-CIO-Timestamp"] == str(NOW)
    verify(KEY, headers["X-CIO-Timestamp"], headers["X-CIO-Signature"], raw, NOW)
    with pytest.raises(WebhookRefused):
        verify("another-key", headers["X-CIO-Timestamp"], headers["X-CIO-Signature"], raw, NOW)
    with pytest.raises(WebhookRefused):
        verify(KEY, headers["X-CIO-Timestamp"], headers["X-CIO-Signature"], raw + b" ", NOW)


async def test_the_destination_turns_them_into_the_track_events_of_spec_9() -> None:
    state, delivery_id = await known_state()
    made = state.reporting_webhooks(
        US.site_id, KEY, [{"metric": m, "delivery_id": delivery_id} for m in ("opened", "clicked")]
    )
    events = [to_track_event(raw, "int-1") for _, raw in made]
    assert [e["event"] for e in events] == ["Email Opened", "Email Link Clicked"]
    assert {e["userId"] for e in events} == {"u1"}
    assert [e["messageId"] for e in events] == [json.loads(raw)["event_id"] for _, raw in made]


# -- handing them to an app in process ------------------------------------------------


def receiver_app(stored: list[dict[str, Any]]) -> Starlette:
    """A stand-in inbound URL: verify, then store the canonical event (401 otherwise)."""

    async def hook(request: Request) -> JSONResponse:
        raw = await request.body()
        try:
            verify(
                KEY,
                request.headers.get("x-cio-timestamp"),
                request.headers.get("x-cio-signature"),
                raw,
                NOW,
            )
        except WebhookRefused as refused:
            return JSONResponse({"error": refused.code}, refused.status)
        stored.append(to_track_event(raw, "int-1"))
        return JSONResponse({})

    return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


async def test_the_helper_s_webhooks_post_to_an_asgi_app_without_sockets() -> None:
    state, delivery_id = await known_state()
    stored: list[dict[str, Any]] = []
    made = state.reporting_webhooks(US.site_id, KEY, metric="delivered")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=receiver_app(stored)), base_url="http://host.test"
    ) as client:
        for headers, raw in made:
            assert (await client.post("/hook", content=raw, headers=headers)).status_code == 200
    assert [e["event"] for e in stored] == ["Email Delivered"]
    assert stored[0]["properties"]["delivery_id"] == delivery_id


async def test_post_webhooks_holds_the_rest_after_a_failure() -> None:
    state, _ = await known_state()
    stored: list[dict[str, Any]] = []
    good = state.reporting_webhooks(US.site_id, KEY, metric="delivered")
    forged = state.reporting_webhooks(US.site_id, "not-the-key", metric="opened")
    later = state.reporting_webhooks(US.site_id, KEY, metric="clicked")
    transport = httpx.ASGITransport(app=receiver_app(stored))
    results = await post_webhooks("http://127.0.0.1/hook", good + forged + later, transport)
    assert [(r["metric"], r["status"], r.get("held", False)) for r in results] == [
        ("delivered", 200, False),
        ("opened", 401, False),
        ("clicked", None, True),
    ]
    assert [e["event"] for e in stored] == ["Email Delivered"]


# -- the inspection route: posting over loopback --------------------------------------


@contextmanager
def loopback_receiver(statuses: list[int]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An HTTP server on 127.0.0.1 answering `statuses` in turn (then 200); what it got."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "headers": dict(self.headers), "body": raw})
            self.send_response(statuses.pop(0) if statuses else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


async def order(state: EmulatorState, **body: Any) -> httpx.Response:
    async with track_client(state) as client:
        return await client.post(
            f"/_emulator/workspaces/{US.site_id}/reporting-webhooks", json=body
        )


async def test_the_inspection_route_posts_signed_webhooks_and_reports_each_status() -> None:
    state, delivery_id = await known_state()
    events = [{"metric": "delivered", "delivery_id": delivery_id}]
    events.append({"metric": "opened", "delivery_id": delivery_id})
    with loopback_receiver([200, 204]) as (url, received):
        response = await order(state, url=url, signing_key=KEY, events=events)
    assert response.status_code == 200, response.text
    results = response.json()["webhooks"]
    assert [(r["metric"], r["delivery_id"], r["status"]) for r in results] == [
        ("delivered", delivery_id, 200),
        ("opened", delivery_id, 204),
    ]
    assert [r["path"] for r in received] == ["/hook", "/hook"]
    for result, got in zip(results, received, strict=True):
        verify(
            KEY,
            got["headers"]["X-CIO-Timestamp"],
            got["headers"]["X-CIO-Signature"],
            got["body"],
            NOW,
        )
        assert json.loads(got["body"])["event_id"] == result["event_id"]
    assert KEY not in response.text


async def test_the_route_holds_later_webhooks_behind_a_failed_one() -> None:
    state, _ = await known_state()
    await sent(state)
    with loopback_receiver([500]) as (url, received):
        response = await order(state, url=url, signing_key=KEY, metric="delivered")
    assert [(r["status"], r.get("held", False)) for r in response.json()["webhooks"]] == [
        (500, False),
        (None, True),
    ]
    assert len(received) == 1


async def test_an_unreachable_url_is_reported_not_raised() -> None:
    state, _ = await known_state()
    with loopback_receiver([]) as (url, _received):
        pass  # closed: nothing listens there any more
    response = await order(state, url=url, signing_key=KEY, metric="delivered")
    [result] = response.json()["webhooks"]
    assert result["status"] is None and result["error"] == "ConnectError"


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",
        "https://10.0.0.8/hook",
        "http://localhost.example.com/hook",
        "http://169.254.169.254/latest",
        "ftp://127.0.0.1/hook",
        "not a url",
    ],
)
async def test_webhooks_go_to_loopback_urls_only(url: str) -> None:
    state, _ = await known_state()
    response = await order(state, url=url, signing_key=KEY, metric="delivered")
    assert response.status_code == 422
    assert state.sends_view(US.site_id)[0]["webhooks"] == []  # nothing was even made
    with pytest.raises(ValueError, match="loopback"):
        await post_webhooks(url, [])


@pytest.mark.parametrize(
    "body",
    [
        {"signing_key": KEY, "metric": "opened"},
        {"url": "http://127.0.0.1:9/x", "metric": "opened"},
        {"url": "http://127.0.0.1:9/x", "signing_key": KEY},
        {"url": "http://127.0.0.1:9/x", "signing_key": KEY, "metric": "read"},
        {"url": "http://127.0.0.1:9/x", "signing_key": KEY, "metric": "opened", "events": []},
        {"url": "http://127.0.0.1:9/x", "signing_key": KEY, "events": [{"metric": "opened"}]},
        {
            "url": "http://127.0.0.1:9/x",
            "signing_key": KEY,
            "events": [{"metric": "opened", "delivery_id": "nope"}],
        },
    ],
)
async def test_a_bad_order_is_422_and_posts_nothing(body: dict[str, Any]) -> None:
    state, _ = await known_state()
    response = await order(state, **body)
    assert response.status_code == 422
    assert set(response.json()) == {"error", "details"}
    assert KEY not in response.text
    assert state.sends_view(US.site_id)[0]["webhooks"] == []


async def test_an_unknown_workspace_is_404() -> None:
    async with track_client(new_state()) as client:
        response = await client.post(
            "/_emulator/workspaces/nope/reporting-webhooks",
            json={"url": "http://127.0.0.1:9/x", "signing_key": KEY, "metric": "opened"},
        )
    assert response.status_code == 404
