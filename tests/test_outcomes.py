"""Pure classification of Customer.io responses into outcomes (SPEC section 4)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from support import STATUS_OUTCOMES

from signal_dest_cio.operations import Refused
from signal_dest_cio.outcomes import (
    MAX_RETRY_AFTER_SECONDS,
    Outcome,
    classify_status,
    error_message,
    parse_retry_after,
    transport_failure,
    worst,
)

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def http_date(when: datetime) -> str:
    return format_datetime(when, usegmt=True)


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [
        *STATUS_OUTCOMES,
        (207, "delivered", "ok"),
        (301, "config_error", "redirect_refused"),
        (302, "config_error", "redirect_refused"),
        (307, "config_error", "redirect_refused"),
        (308, "config_error", "redirect_refused"),
        (410, "rejected", "client_error"),
    ],
)
def test_each_status_class_maps_to_its_kind_and_code(status: int, kind: str, code: str) -> None:
    outcome = classify_status(status)
    assert (outcome.kind, outcome.code, outcome.status) == (kind, code, status)


@pytest.mark.parametrize("status", [400, 404, 409, 422, 500, 503, 501])
def test_failures_without_a_body_still_get_a_message_naming_the_status(status: int) -> None:
    assert str(status) in classify_status(status).message


def test_message_comes_from_meta_error() -> None:
    body = json.dumps({"meta": {"error": "attribute name too long"}}).encode()
    assert classify_status(400, body).message == "attribute name too long"


def test_message_joins_every_meta_errors_entry() -> None:
    body = json.dumps({"meta": {"errors": ["email is invalid", "id is missing"]}}).encode()
    message = classify_status(422, body).message
    assert "email is invalid" in message
    assert "id is missing" in message


def test_message_comes_from_v2_errors_with_their_field() -> None:
    body = json.dumps(
        {"errors": [{"reason": "invalid", "field": "identifiers", "message": "id is required"}]}
    ).encode()
    assert classify_status(400, body).message == "identifiers: id is required"


def test_v2_error_without_message_falls_back_to_its_reason() -> None:
    assert error_message(json.dumps({"errors": [{"reason": "too big"}]}).encode()) == "too big"


def test_plain_text_error_body_is_the_message() -> None:
    assert classify_status(500, b"upstream exploded\n").message == "upstream exploded"


def test_error_body_of_unknown_shape_gives_the_default_message() -> None:
    assert error_message(b'{"unexpected": true}') is None
    assert error_message(b"[1, 2]") is None
    assert "400" in classify_status(400, b'{"unexpected": true}').message


def test_credentials_refusal_uses_customerio_words_when_given() -> None:
    body = json.dumps({"meta": {"error": "Unauthorized request"}}).encode()
    outcome = classify_status(401, body)
    assert outcome.kind == "config_error"
    assert outcome.message == "Unauthorized request"


def test_success_ignores_the_body() -> None:
    assert classify_status(200, b'{"meta": {"error": "not really"}}').message == ""


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("120", 120.0), ("1.5", 1.5), (" 7 ", 7.0), ("0", 0.0), ("-5", 0.0), ("3600", 300.0)],
)
def test_retry_after_in_seconds_is_clamped_to_0_and_300(header: str, seconds: float) -> None:
    assert parse_retry_after(header, NOW) == seconds


def test_retry_after_as_http_date_is_relative_to_now() -> None:
    assert parse_retry_after(http_date(NOW + timedelta(seconds=90)), NOW) == 90.0


def test_retry_after_http_date_far_ahead_is_capped_at_300() -> None:
    assert parse_retry_after(http_date(NOW + timedelta(hours=2)), NOW) == MAX_RETRY_AFTER_SECONDS


def test_retry_after_http_date_in_the_past_means_now() -> None:
    assert parse_retry_after(http_date(NOW - timedelta(minutes=5)), NOW) == 0.0


def test_retry_after_http_date_uses_the_clock_when_now_is_not_given() -> None:
    seconds = parse_retry_after(http_date(datetime.now(UTC) + timedelta(seconds=120)))
    assert seconds is not None
    assert 100 < seconds <= 120


@pytest.mark.parametrize("header", [None, "", "   ", "soon", "nan", "Mon, 99 Foo 2024"])
def test_absent_or_garbage_retry_after_is_none(header: str | None) -> None:
    assert parse_retry_after(header, NOW) is None


def test_retry_outcome_carries_retry_after() -> None:
    assert classify_status(429, b"", "30").retry_after == 30.0
    assert classify_status(503, b"", http_date(NOW + timedelta(seconds=45)), NOW).retry_after == (
        45.0
    )
    assert classify_status(503).retry_after is None


def test_retry_after_is_ignored_when_the_event_is_not_retried() -> None:
    assert classify_status(400, b"", "30").retry_after is None
    assert classify_status(401, b"", "30").retry_after is None


@pytest.mark.parametrize("code", ["timeout", "connection_error"])
def test_transport_failures_are_retried_without_a_status(code: str) -> None:
    outcome = transport_failure(code, "no answer")
    assert (outcome.kind, outcome.code, outcome.status) == ("retry", code, None)


def test_worst_outcome_of_an_event_prefers_config_error_then_retry_then_rejected() -> None:
    delivered = Outcome(kind="delivered", code="ok")
    rejected = Outcome(kind="rejected", code="bad_request")
    retry = Outcome(kind="retry", code="server_error")
    config = Outcome(kind="config_error", code="invalid_credentials")
    assert worst([delivered, rejected]) is rejected
    assert worst([rejected, retry, delivered]) is retry
    assert worst([retry, config, rejected]) is config


def test_refused_event_becomes_an_outcome_with_all_its_details() -> None:
    refused = Refused(
        "rejected", "missing_identifier", "needs a person", "user_id", "m-1", ("timestamp_invalid",)
    )
    outcome = Outcome.from_refused(refused)
    assert outcome.model_dump() == {
        "kind": "rejected",
        "code": "missing_identifier",
        "message": "needs a person",
        "status": None,
        "field": "user_id",
        "retry_after": None,
        "message_id": "m-1",
        "warnings": ("timestamp_invalid",),
    }
