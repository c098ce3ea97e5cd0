"""Reporting webhooks in (SPEC 9): the signature, and the canonical event each becomes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signal_dest_cio.webhooks import WebhookRefused, event_name, signature, to_track_event, verify

KEY = "whsec-REPORTING-KEY-777"
NOW = 1_770_000_000
BODY = json.dumps(
    {
        "event_id": "01HXYZ",
        "object_type": "email",
        "metric": "clicked",
        "timestamp": NOW - 5,
        "data": {
            "customer_id": "u1",
            "identifiers": {"id": "u1", "email": "ada@example.com"},
            "delivery_id": "dlv-1",
            "href": "https://example.com/x",
        },
    }
).encode()


def test_a_signature_customer_io_would_send_is_accepted() -> None:
    stamp = str(NOW)
    verify(KEY, stamp, signature(KEY, stamp, BODY), BODY, NOW)
    verify(KEY, stamp, signature(KEY, stamp, BODY).upper(), BODY, NOW)  # hex in any case


@pytest.mark.parametrize(
    ("stamp", "given", "body", "code"),
    [
        (str(NOW), "0" * 64, BODY, "invalid_signature"),
        (str(NOW), signature("other-key", str(NOW), BODY), BODY, "invalid_signature"),
        (str(NOW), signature(KEY, str(NOW), BODY), BODY + b" ", "invalid_signature"),
        (str(NOW), signature(KEY, str(NOW - 1), BODY), BODY, "invalid_signature"),
        (str(NOW - 301), signature(KEY, str(NOW - 301), BODY), BODY, "stale_timestamp"),
        (str(NOW + 301), signature(KEY, str(NOW + 301), BODY), BODY, "stale_timestamp"),
        ("", "abc", BODY, "missing_signature"),
        (str(NOW), None, BODY, "missing_signature"),
        ("12.5", "abc", BODY, "invalid_timestamp"),
    ],
)
def test_anything_else_is_refused_with_a_401_naming_why(
    stamp: str, given: str | None, body: bytes, code: str
) -> None:
    with pytest.raises(WebhookRefused) as refused:
        verify(KEY, stamp, given, body, NOW)
    assert (refused.value.status, refused.value.code) == (401, code)


@given(st.binary(max_size=200), st.text(max_size=70))
def test_no_forged_signature_is_ever_accepted(body: bytes, forged: str) -> None:
    if forged.strip().lower() == signature(KEY, str(NOW), body):
        return
    with pytest.raises(WebhookRefused):
        verify(KEY, str(NOW), forged, body, NOW)


def test_a_webhook_becomes_the_canonical_track_event_of_spec_9() -> None:
    event = to_track_event(BODY, "int_1")
    assert event["type"] == "track" and event["messageId"] == "01HXYZ"
    assert event["userId"] == "u1" and event["event"] == "Email Link Clicked"
    assert event["timestamp"] == NOW - 5
    assert event["properties"]["metric"] == "clicked"
    assert event["properties"]["delivery_id"] == "dlv-1"
    assert event["context"]["source"] == {
        "type": "customer_io_reporting_webhook",
        "integration_id": "int_1",
    }


@pytest.mark.parametrize(
    ("object_type", "metric", "name"),
    [
        ("email", "delivered", "Email Delivered"),
        ("email", "opened", "Email Opened"),
        ("email", "bounced", "Email Bounced"),
        ("push", "opened", "Push Opened"),
        ("sms", "clicked", "SMS Link Clicked"),
        ("email", "spammed", "Email Marked as Spam"),
        ("customer", "unsubscribed", "Customer Unsubscribed"),
        ("email", "converted", "Email Converted"),
    ],
)
def test_event_names_follow_object_and_metric(object_type: str, metric: str, name: str) -> None:
    assert event_name(object_type, metric) == name


def test_a_person_known_only_by_identifiers_or_email_is_still_named() -> None:
    by_id = json.dumps(
        {
            "event_id": "e",
            "object_type": "email",
            "metric": "opened",
            "data": {"identifiers": {"id": 42}},
        }
    ).encode()
    assert to_track_event(by_id, "i")["userId"] == "42"
    by_email = json.dumps(
        {
            "event_id": "e",
            "object_type": "customer",
            "metric": "subscribed",
            "data": {"email_address": "a@b.co"},
        }
    ).encode()
    event = to_track_event(by_email, "i")
    assert "userId" not in event and event["properties"]["email"] == "a@b.co"


@pytest.mark.parametrize("body", [b"nope", b"[]", b'{"event_id": "e"}', b'{"object_type": "x"}'])
def test_a_webhook_that_is_not_one_is_a_400(body: bytes) -> None:
    with pytest.raises(WebhookRefused) as refused:
        to_track_event(body, "i")
    assert refused.value.status == 400
