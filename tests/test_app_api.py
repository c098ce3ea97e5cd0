"""The App API actions (SPEC 10): attributes and transactional email, against
httpx.MockTransport; a send whose fate is unknown is never repeated."""

from __future__ import annotations

import itertools
import json
from typing import Any

import httpx
import pytest
from openapi import relaxed_document
from pydantic import ValidationError

from signal_dest_cio import CustomerIoDestination
from signal_dest_cio.app_api import APP_API_PER_SECOND, app_pacer

APP_KEY = "app-KEY-APPAPI-5555"
_sites = itertools.count()

EMAIL = {
    "transactional_message_id": 44,
    "to": "ada@example.com",
    "identifiers": {"email": "ada@example.com"},
    "message_data": {"order": "A-1"},
    "subject": "Your order",
}


def destination(handler: Any, **options: Any) -> CustomerIoDestination:
    config = {
        "site_id": f"app-{next(_sites)}",
        "tracking_api_key": "trk",
        "api_key": APP_KEY,
        "region": "eu",
        **options,
    }
    transport = httpx.MockTransport(handler)
    return CustomerIoDestination(config, transport=transport, app_transport=transport)


async def test_attributes_are_read_with_the_bearer_key_from_the_region_s_app_host() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"customer": {"id": "u1", "attributes": {"plan": "pro"}}})

    async with destination(handler) as dest:
        result = await dest.customer_attributes("a/b@example.com", "email")
    [request] = seen
    assert str(request.url) == (
        "https://api-eu.customer.io/v1/customers/a%2Fb%40example.com/attributes?id_type=email"
    )
    assert request.headers["authorization"] == f"Bearer {APP_KEY}"
    assert result.outcome.kind == "delivered"
    assert result.body == {"customer": {"id": "u1", "attributes": {"plan": "pro"}}}


async def test_an_unknown_person_is_rejected_not_found() -> None:
    async with destination(lambda r: httpx.Response(404, json={"meta": {"error": "nope"}})) as d:
        result = await d.customer_attributes("ghost")
    assert (result.outcome.kind, result.outcome.code) == ("rejected", "not_found")


async def test_a_send_returns_the_delivery_and_its_body_is_the_published_schema() -> None:
    bodies: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"delivery_id": "d-1", "queued_at": 1700000000})

    async with destination(handler) as dest:
        result = await dest.send_email(EMAIL)
    assert result.outcome.kind == "delivered" and result.body == {
        "delivery_id": "d-1",
        "queued_at": 1700000000,
    }
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    registry = Registry().with_resource(
        "urn:track", Resource.from_contents(relaxed_document(), default_specification=DRAFT202012)
    )
    validator = Draft202012Validator(
        {"$ref": "urn:track#/components/schemas/sendemail"}, registry=registry
    )
    assert list(validator.iter_errors(bodies[0])) == []


@pytest.mark.parametrize(
    ("failure", "kind", "code"),
    [
        (httpx.ReadTimeout("late"), "rejected", "outcome_unknown"),
        (httpx.RemoteProtocolError("dropped"), "rejected", "outcome_unknown"),
        (httpx.WriteTimeout("stuck"), "rejected", "outcome_unknown"),
        (httpx.ConnectError("refused"), "retry", "connection_error"),
        (httpx.ConnectTimeout("no route"), "retry", "connection_error"),
        (httpx.Response(429, headers={"Retry-After": "3"}), "retry", "rate_limited"),
        (httpx.Response(503), "retry", "server_error"),
        (
            httpx.Response(400, json={"meta": {"error": "no such template"}}),
            "rejected",
            "bad_request",
        ),
        (httpx.Response(401), "config_error", "invalid_credentials"),
    ],
)
async def test_a_send_whose_fate_is_unknown_is_never_retried(
    failure: Any, kind: str, code: str
) -> None:
    sent = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal sent
        sent += 1
        if isinstance(failure, Exception):
            raise failure
        return failure  # type: ignore[no-any-return]

    async with destination(handler) as dest:
        result = await dest.send_email(EMAIL)
    assert (result.outcome.kind, result.outcome.code) == (kind, code)
    assert sent == 1  # never sent twice by the client itself


@pytest.mark.parametrize(
    "change",
    [
        {"identifiers": {}},
        {"identifiers": {"id": "1", "email": "a@b.co"}},
        {"identifiers": {"phone": "1"}},
        {"transactional_message_id": None},
        {"to": ""},
    ],
)
async def test_a_malformed_send_is_refused_before_anything_is_sent(change: dict[str, Any]) -> None:
    async with destination(lambda r: pytest.fail("nothing may be sent")) as dest:
        with pytest.raises(ValidationError):
            await dest.send_email(EMAIL | change)


def test_the_app_api_has_its_own_pace_of_ten_a_second() -> None:
    from signal_dest_cio.config import CustomerIoConfig

    config = CustomerIoConfig.model_validate(
        {
            "site_id": "pace",
            "tracking_api_key": "t",
            "api_key": "a",
            "region": "us",
            "max_requests_per_second": 5000,
        }
    )
    assert APP_API_PER_SECOND == 10 and app_pacer(config).interval == pytest.approx(0.1)


async def test_the_app_key_never_shows_in_a_result(capsys: pytest.CaptureFixture[str]) -> None:
    echo = lambda r: httpx.Response(400, text=r.headers["authorization"])  # noqa: E731
    async with destination(echo) as dest:
        result = await dest.send_email(EMAIL)
    assert APP_KEY not in result.model_dump_json() and APP_KEY not in capsys.readouterr().out
