"""Pipelines API mode (SPEC 8): Segment-spec calls to cdp[-eu].customer.io/v1, Basic auth
with the CDP key, strict mode, batches, aliases, outcomes, order, secrets."""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any
from unittest import mock

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipelines_openapi import validate_call
from support import STATUS_OUTCOMES

from signal_dest_cio import CustomerIoDestination, mapping, pipelines
from signal_dest_cio.config import CustomerIoConfig
from signal_dest_cio.operations import Mapped, Refused
from signal_dest_cio.pipelines import map_pipelines

CDP_KEY = "cdp-PIPELINES-SECRET-9876"
WHEN = "2026-03-02T09:15:04Z"
_sites = itertools.count()


def config(**options: Any) -> dict[str, Any]:
    return {
        "api": "pipelines",
        "cdp_api_key": f"{CDP_KEY}-{next(_sites)}",
        "region": "us",
        "max_requests_per_second": 10_000,
        **options,
    }


def signup(n: int = 1, user: str = "u1") -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": f"m{n}",
        "userId": user,
        "event": "user.signup",
        "timestamp": WHEN,
        "properties": {"email": f"{user}@example.com", "first_name": "Ada", "plan": "pro"},
    }


class Recorder:
    def __init__(self, answer: Any = None) -> None:
        self.sent: list[httpx.Request] = []
        self.answer = answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        if self.answer is not None:
            return self.answer(request)  # type: ignore[no-any-return]
        return httpx.Response(200, json={})

    def calls(self) -> list[tuple[str, str]]:
        return [(r.method, r.url.path) for r in self.sent]


async def deliver(recorder: Recorder, events: list[Any], **options: Any) -> list[Any]:
    async with CustomerIoDestination(
        config(**options), transport=httpx.MockTransport(recorder)
    ) as destination:
        return await destination.deliver(events)


async def test_calls_go_to_the_region_s_cdp_host_with_the_key_as_user_and_strict_mode() -> None:
    recorder = Recorder()
    [outcome] = await deliver(recorder, [signup()], region="eu")
    assert outcome.kind == "delivered"
    [request] = recorder.sent
    assert str(request.url) == "https://cdp-eu.customer.io/v1/batch"
    assert request.headers["x-strict-mode"] == "1"
    user, _, password = (
        base64.b64decode(request.headers["authorization"][6:]).decode().partition(":")
    )
    assert user.startswith(CDP_KEY) and password == ""
    [call] = json.loads(request.content)["batch"]
    assert call["type"] == "track" and call["event"] == "user.signup"
    assert call["userId"] == "u1" and call["messageId"] == "m1"
    assert call["timestamp"] == WHEN and call["properties"]["plan"] == "pro"
    validate_call("/batch", json.loads(request.content))


async def test_an_alias_goes_to_its_own_endpoint_in_order_with_the_batches() -> None:
    recorder = Recorder()
    events = [
        {"type": "identify", "messageId": "m1", "userId": "old", "traits": {"a": 1}},
        {"type": "alias", "messageId": "m2", "userId": "new", "previousId": "old"},
        {"type": "track", "messageId": "m3", "userId": "new", "event": "x"},
    ]
    outcomes = await deliver(recorder, events)
    assert [o.kind for o in outcomes] == ["delivered"] * 3
    assert recorder.calls() == [("POST", "/v1/batch"), ("POST", "/v1/alias"), ("POST", "/v1/batch")]
    alias = json.loads(recorder.sent[1].content)
    assert (alias["userId"], alias["previousId"], alias["type"]) == ("new", "old", "alias")
    validate_call("/alias", alias)


async def test_a_product_event_identifies_then_tracks_with_traits_from_properties() -> None:
    recorder = Recorder()
    [outcome] = await deliver(
        recorder, [signup()], identify_on_track=True, traits_from_properties=True
    )
    assert outcome.kind == "delivered"
    identify, track = json.loads(recorder.sent[0].content)["batch"]
    assert identify["type"] == "identify" and track["type"] == "track"
    assert identify["traits"] == {"email": "u1@example.com", "first_name": "Ada", "plan": "pro"}
    assert identify["messageId"] == "m1:identify" and track["messageId"] == "m1"


@pytest.mark.parametrize(("status", "kind", "code"), STATUS_OUTCOMES)
async def test_every_status_class_is_the_outcome_of_section_4(
    status: int, kind: str, code: str
) -> None:
    recorder = Recorder(
        lambda request: httpx.Response(status, json={"errors": [{"message": "no"}]})
    )
    [outcome] = await deliver(recorder, [signup()])
    assert (outcome.kind, outcome.code) == (kind, code)
    # No region lookup in this mode: the Data Pipelines API has none.
    assert all(r.url.path != "/api/v1/accounts/region" for r in recorder.sent)


async def test_a_whole_batch_400_is_split_so_one_bad_call_takes_no_good_one_down() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        calls = json.loads(request.content)["batch"]
        if any(call.get("userId") == "bad" for call in calls):
            return httpx.Response(400, json={"errors": [{"message": "strict mode: bad call"}]})
        return httpx.Response(200, json={})

    events = [signup(n, user=f"p{n}") for n in range(8)] + [signup(99, user="bad")]
    outcomes = await deliver(Recorder(answer), events)
    assert [o.kind for o in outcomes] == ["delivered"] * 8 + ["rejected"]
    assert "strict mode" in outcomes[-1].message


async def test_retry_after_and_held_lanes_hold_in_this_mode_too() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"}, json={})])
    recorder = Recorder(lambda request: next(answers, httpx.Response(200, json={})))
    events = [
        {"type": "identify", "messageId": "m1", "userId": "new", "traits": {"a": 1}},
        {"type": "alias", "messageId": "m2", "userId": "new", "previousId": "old"},
    ]
    outcomes = await deliver(recorder, events)
    assert [(o.kind, o.code) for o in outcomes] == [("retry", "rate_limited"), ("retry", "held")]
    assert outcomes[0].retry_after == 7 and recorder.calls() == [("POST", "/v1/batch")]


async def test_the_cdp_key_never_appears_in_outcomes_previews_or_logs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    options = config()
    key = options["cdp_api_key"]
    echo = Recorder(lambda request: httpx.Response(400, text=request.headers["authorization"]))
    async with CustomerIoDestination(options, transport=httpx.MockTransport(echo)) as destination:
        outcomes = await destination.deliver([signup()])
        preview = destination.preview(signup())
        shown = repr(destination) + json.dumps(preview.as_json()) + repr(outcomes)
    basic = base64.b64encode(f"{key}:".encode()).decode()
    captured = capsys.readouterr()
    for text in (shown, captured.out, captured.err):
        assert key not in text and basic not in text


def test_preview_shows_each_call_at_its_endpoint_and_every_body_validates() -> None:
    destination = CustomerIoDestination(config(identify_on_track=True, traits_from_properties=True))
    preview = destination.preview(signup()).as_json()
    assert [(r["method"], r["url"]) for r in preview["requests"]] == [
        ("POST", "https://cdp.customer.io/v1/identify"),
        ("POST", "https://cdp.customer.io/v1/track"),
    ]
    for request in preview["requests"]:
        validate_call(request["url"].removeprefix("https://cdp.customer.io/v1"), request["json"])


def test_refusals_are_the_track_mapper_s() -> None:
    parsed = CustomerIoConfig.model_validate(config())
    nobody = map_pipelines({"type": "identify", "traits": {"plan": "x"}}, parsed)
    assert not isinstance(nobody, Mapped) and nobody.code == "missing_identifier"
    big = map_pipelines(signup() | {"properties": {"blob": "x" * 40_000}}, parsed)
    assert not isinstance(big, Mapped) and big.code == "payload_too_large"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
events = st.fixed_dictionaries(
    {"type": st.sampled_from(["identify", "track", "page", "screen", "group", "alias"])},
    optional={
        "userId": st.sampled_from(["u1", "u2", " ", "a@b.co"]),
        "anonymousId": st.sampled_from(["an-1", "an-2"]),
        "previousId": st.sampled_from(["old-1", "u2"]),
        "groupId": st.sampled_from(["g1", "acme"]),
        "event": st.sampled_from(["user.signup", "User Deleted", "Device Created or Updated"]),
        "name": st.sampled_from(["Home", "Pricing"]),
        "messageId": st.text(min_size=1, max_size=12),
        "timestamp": st.sampled_from([WHEN, 1_700_000_000, "garbage"]),
        "traits": st.dictionaries(st.text(max_size=8), json_values, max_size=4),
        "properties": st.dictionaries(st.text(max_size=8), json_values, max_size=4),
        "context": st.fixed_dictionaries(
            {}, optional={"traits": st.dictionaries(st.text(max_size=5), json_values, max_size=2)}
        ),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=events, product=st.booleans())
def test_any_event_is_an_outcome_and_every_call_validates(
    event: dict[str, Any], product: bool
) -> None:
    parsed = CustomerIoConfig.model_validate(
        config(identify_on_track=product, traits_from_properties=product)
    )
    result = map_pipelines(event, parsed)
    if isinstance(result, Mapped):
        for op in result.operations:
            validate_call(f"/{op.name}", op.attributes)


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_a_product_event_is_an_identify_then_the_track_in_the_track_modes_too(api: str) -> None:
    options = {
        "site_id": "s",
        "tracking_api_key": "t",
        "api_key": "a",
        "region": "us",
        "api": api,
        "identify_on_track": True,
        "traits_from_properties": True,
    }
    destination = CustomerIoDestination(options)
    preview = destination.preview(
        signup() | {"properties": signup()["properties"] | {"userId": "u1"}}
    )
    requests = preview.as_json()["requests"]
    assert len(requests) == 2
    identify = requests[0]["json"]
    traits = identify.get("attributes", identify)
    assert traits["first_name"] == "Ada" and traits["plan"] == "pro"
    assert "userId" not in traits  # identifiers are not traits
    assert "/events" in requests[1]["url"] or requests[1]["json"].get("action") == "event"


def test_a_call_with_no_person_at_all_is_refused_naming_user_id() -> None:
    parsed = CustomerIoConfig.model_validate(config())
    metric = {
        "type": "track",
        "event": "Report Delivery Event",
        "properties": {"deliveryId": "d1", "metric": "opened"},
    }
    result = map_pipelines(metric, parsed)
    assert not isinstance(result, Mapped) and (result.code, result.field) == (
        "missing_identifier",
        "userId",
    )


def _calls(event: dict[str, Any], **options: Any) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    mapped = map_pipelines(event, CustomerIoConfig.model_validate(config(**options)))
    assert isinstance(mapped, Mapped), mapped
    calls = [op.attributes or {} for op in mapped.operations]
    for op, body in zip(mapped.operations, calls, strict=True):
        validate_call(f"/{op.name}", body)
    return calls, mapped.warnings


def test_page_properties_the_api_types_as_text_are_sent_only_as_text() -> None:
    """The Pipelines API types a page's url, title, path, ... as strings: null is left
    out, another type too (with a warning), the rest of the properties go as they are."""
    page = {"type": "page", "userId": "u1", "name": "Home", "messageId": "m1",
            "properties": {"path": None, "url": 5, "title": "Home", "seats": None}}  # fmt: skip
    [call], warnings = _calls(page)
    assert call["properties"] == {"title": "Home", "seats": None}
    assert warnings == ("attribute_dropped:properties.url:not_a_string",)


def test_typed_traits_are_sent_only_as_their_type() -> None:
    identify = {"type": "identify", "userId": "u1", "messageId": "m1",
                "traits": {"email": None, "createdAt": 1_700_000_000, "unsubscribed": "yes",
                           "plan": "pro"}}  # fmt: skip
    [call], warnings = _calls(identify)
    assert call["traits"] == {"createdAt": "2023-11-14T22:13:20Z", "plan": "pro"}
    assert warnings == (  # the first is the Track mapper's own check's, said once
        "attribute_dropped:traits.email:not_a_string",
        "attribute_dropped:traits.unsubscribed:not_a_boolean",
    )
    track = {"type": "track", "event": "user.signup", "userId": "u1", "messageId": "m2",
             "properties": {"email": 7, "plan": "pro"}}  # fmt: skip
    [identify_call, track_call], warnings = _calls(
        track, identify_on_track=True, traits_from_properties=True
    )
    assert identify_call["traits"] == {"plan": "pro"}
    assert track_call["properties"] == {"email": 7, "plan": "pro"}  # free-form there
    assert warnings == ("attribute_dropped:traits.email:not_a_string",)


# -- the Track mapper's checks, made without converting dates ------------------------------


def _map_in_full(event: dict[str, Any], parsed: CustomerIoConfig) -> Mapped | Refused:
    """`map_pipelines` with the Track mapper run as the Track modes run it (dates converted)."""

    def in_full(event: Any, config: CustomerIoConfig, **_: Any) -> Mapped | Refused:
        return mapping.map_parsed(event, config)  # (`checking` left out)

    with mock.patch.object(pipelines, "map_parsed", in_full):
        return map_pipelines(event, parsed)


_DATE_TEXTS = st.sampled_from(
    ["2024-01-02", "2024-01-02T03:04:05.678Z", "2024-01-02T03:04:05+01:00", "2024-02-30", "x"]
)
dated_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | _DATE_TEXTS | st.floats(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    event=events,
    properties=st.dictionaries(st.text(max_size=8), dated_values, max_size=4),
    traits=st.dictionaries(st.text(max_size=8), dated_values, max_size=4),
    product=st.booleans(),
)
def test_the_calls_are_those_of_the_track_mapper_run_in_full(
    event: dict[str, Any], properties: dict[str, Any], traits: dict[str, Any], product: bool
) -> None:
    parsed = CustomerIoConfig.model_validate(
        config(identify_on_track=product, traits_from_properties=product)
    )
    # (an event that names no time happened now, and one with no messageId gets a new
    # dedup id: each mapping would have its own)
    event = {"timestamp": WHEN, "messageId": "m-1"} | event
    event |= {"properties": properties, "traits": traits}
    assert map_pipelines(event, parsed) == _map_in_full(event, parsed)


def test_data_over_the_track_limit_only_before_its_dates_are_converted_is_refused_as_in_full() -> (
    None
):
    # 4,000 dates of 27 bytes in the JSON, 11 as unix seconds: ~108 KB given, ~44 KB converted.
    # Only the Track mapper run without converting would call it over its 100,000 bytes.
    parsed = CustomerIoConfig.model_validate(config())
    event = signup() | {"properties": {"at": ["2024-01-02T03:04:05.678Z"] * 4000}}
    refused = map_pipelines(event, parsed)
    assert refused == _map_in_full(event, parsed)
    assert isinstance(refused, Refused) and refused.code == "payload_too_large"
    assert "Data Pipelines call" in refused.message  # (not the Track limit's words)


@pytest.mark.parametrize("kind", ["identify", "group"])
def test_a_trait_json_cannot_carry_is_left_out_with_the_track_modes_warning(kind: str) -> None:
    # Only a Python caller can hand over NaN (JSON text cannot hold it); the call still goes.
    event = {"type": kind, "userId": "u1", "groupId": "acme", "timestamp": WHEN,
             "traits": {"score": float("nan"), "deep": [float("inf")], "plan": "pro"}}  # fmt: skip
    result = map_pipelines(event, CustomerIoConfig.model_validate(config()))
    assert isinstance(result, Mapped)
    assert result.operations[-1].attributes["traits"] == {"plan": "pro"}
    assert result.warnings == (
        "attribute_dropped:traits.score:not_json",
        "attribute_dropped:traits.deep:not_json",
    )
    validate_call(f"/{kind}", result.operations[-1].attributes)


def test_any_other_value_json_cannot_carry_is_refused_naming_it() -> None:
    event = {"type": "identify", "userId": "u1", "context": {"page": {"x": float("nan")}}}
    refused = map_pipelines(event, CustomerIoConfig.model_validate(config()))
    assert isinstance(refused, Refused) and refused.code == "invalid_value"
    assert "NaN" in refused.message
