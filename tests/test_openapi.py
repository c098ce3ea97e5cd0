"""The request validator itself: it must reject what Customer.io rejects, or it proves nothing."""

from __future__ import annotations

from typing import Any

import pytest
from openapi import (
    find_operation,
    published_document,
    relaxed_document,
    validate_request,
    validate_v2_item,
)

EVENTS = "/api/v1/customers/42/events"
ACME = {"object_type_id": "1", "object_id": "acme"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", EVENTS, {"type": "event", "data": {}}),  # no name
        ("POST", EVENTS, {"name": "x", "timestamp": "yesterday"}),
        ("POST", EVENTS, {"type": "screen", "anonymous_id": "a"}),  # a screen needs a name
        ("POST", EVENTS, {"name": "x", "type": "screen", "timestamp": "now"}),
        ("POST", "/api/v1/metrics", {"metric": "opened"}),  # no delivery_id
        ("POST", "/api/v1/metrics", {"delivery_id": "d1"}),  # no metric
        ("POST", "/api/v1/metrics", {"delivery_id": "d1", "metric": "levitated"}),
        ("POST", "/api/v1/metrics", {"delivery_id": "d1", "metric": "opened", "timestamp": "x"}),
        ("POST", "/api/v1/metrics", {"delivery_id": 5, "metric": "opened"}),
        ("POST", "/api/v1/events", {"name": 5}),
        ("PUT", "/api/v1/customers/42/devices", {"device": {"id": "t", "platform": "windows"}}),
        ("PUT", "/api/v1/customers/42/devices", {"device": {"platform": "ios"}}),
        ("PUT", "/api/v1/customers/42", {"created_at": "2024-01-01"}),
        ("PUT", "/api/v1/customers/42", {"_timestamp": 1.5}),
        ("POST", "/api/v1/merge_customers", {"primary": {"id": "a"}}),
        ("POST", "/api/v1/customers/42/suppress", {}),  # takes no body
        ("DELETE", "/api/v1/customers/42", {"id": "42"}),
        ("PUT", "/api/v1/customers/42", None),  # needs a body
        ("POST", "/api/v1/customers/42", {}),  # no such method
        ("GET", "/api/v1/people/42", None),  # no such path
        ("PUT", "/api/v1/customers/a/b", {}),  # an unencoded '/' makes another path
    ],
)
def test_validator_rejects_broken_v1_requests(method: str, path: str, body: Any) -> None:
    with pytest.raises(AssertionError):
        validate_request(method, path, body)


@pytest.mark.parametrize(
    "item",
    [
        {"type": "person", "identifiers": {"id": "42"}, "action": "event"},  # no name
        {"type": "person", "identifiers": {"id": "42"}, "action": "levitate"},
        {"type": "person", "identifiers": {}, "action": "event", "name": "x"},
        {"type": "person", "action": "page", "name": "x"},  # no identifiers
        # The anonymous_id branch exists for event/page/screen only.
        {"type": "person", "identifiers": {"anonymous_id": "a"}, "action": "identify"},
        {"type": "person", "identifiers": {"id": "42"}, "action": "add_device", "device": {}},
        {"type": "object", "identifiers": {"object_id": "acme"}, "action": "identify"},
        {"type": "object", "identifiers": {"object_type_id": "1"}, "action": "delete"},
        {"type": "object", "identifiers": ACME, "action": "levitate"},
        {"type": "object", "identifiers": ACME, "action": "delete_relationships"},
        {"type": "person", "identifiers": {"id": "42"}, "action": "delete_relationships"},
        {
            "type": "person",
            "identifiers": {"id": "42"},
            "action": "delete_relationships",
            "cio_relationships": [{"identifiers": {"object_id": "acme"}}],
        },
        {
            "type": "person",
            "identifiers": {"id": "42"},
            "action": "identify",
            "cio_relationships": [{"identifiers": {"object_type_id": "1"}}],
        },
        {
            "type": "object",
            "identifiers": ACME,
            "action": "identify_anonymous",
            "cio_relationships": [{"identifiers": {"anonymous_id": 7}}],
        },
    ],
)
def test_validator_rejects_broken_v2_items(item: dict[str, Any]) -> None:
    with pytest.raises(AssertionError):
        validate_v2_item(item)


def test_validator_accepts_the_documented_relaxations() -> None:
    # (a) attribute value types aside
    validate_request("PUT", "/api/v1/customers/42", {"plan": {"seats": [1, 2.5]}, "score": 0.5})
    device = {"id": "t", "platform": "ios", "attributes": {"screens": 2, "app_version": 3}}
    validate_request("PUT", "/api/v1/customers/42/devices", {"device": device})
    # (b) overlapping oneOf branches read as anyOf
    anonymous_page = {"anonymous_id": "a", "name": "https://x.io", "type": "page"}
    validate_request("POST", "/api/v1/events", anonymous_page)
    merge = {"primary": {"id": "a"}, "secondary": {"email": "b@x.io"}}
    validate_request("POST", "/api/v1/merge_customers", merge)
    # (c) v2 anonymous events
    for action in ("event", "page", "screen"):
        item = {"type": "person", "identifiers": {"anonymous_id": "a"}, "action": action}
        validate_v2_item({**item, "name": "x"})
    # (d) `failed` metrics
    validate_request("POST", "/api/v1/metrics", {"delivery_id": "d1", "metric": "failed"})
    # (e) a known person's v1 screen without anonymous_id
    validate_request("POST", EVENTS, {"name": "Cart", "type": "screen", "data": {}})


def test_the_relaxations_leave_the_rest_of_their_schemas_as_published() -> None:
    # (d) is the email branch only: the push branch still refuses `failed` and `bounced`.
    push = {"delivery_id": "d1", "metric": "failed", "recipient": 5}
    with pytest.raises(AssertionError):
        validate_request("POST", "/api/v1/metrics", push)
    # (e) patched a copy: the published screen branch still demands an anonymous_id.
    [screen] = [
        branch
        for branch in published_document()["components"]["schemas"]["eventsRequest"]["oneOf"]
        if branch["title"] == "Mobile screen view"
    ]
    assert "anonymous_id" in screen["required"]


def test_relaxations_patch_a_copy_not_the_published_document() -> None:
    published = published_document()["components"]["schemas"]
    relaxed = relaxed_document()["components"]["schemas"]

    assert "oneOf" in published["person_common"]["properties"]["identifiers"]
    assert "person_common_or_anonymous" not in published
    assert "oneOf" not in str(relaxed)


def test_path_templates_prefer_literal_segments() -> None:
    template, _ = find_operation("PUT", "/api/v1/customers/x%2Fy/devices")

    assert template == "/api/v1/customers/{identifier}/devices"
