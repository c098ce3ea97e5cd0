"""Ingestion's shortcuts answer what the long way would: the strict parse, the surrogate
scan, the depth scan and the recursive depth count, the stored text of an event, against
their plain definitions."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signal_dest_cio.host.errors import ApiError
from signal_dest_cio.host.intake import (
    MAX_EVENT_DEPTH,
    depth_of,
    may_hold_surrogates,
    message_id,
    parse_json,
    strict_json,
    within_depth,
)
from signal_dest_cio.host.store_common import column_text
from signal_dest_cio.jsoncodec import dumps, loads

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=30,
)


def plain_depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((plain_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((plain_depth(v) for v in value), default=0)
    return 0


@given(json_values)
def test_depth_is_the_plain_nesting_depth(value: Any) -> None:
    assert depth_of(value, 1000) == plain_depth(value)


@given(st.integers(min_value=1, max_value=40), st.integers(min_value=0, max_value=45))
def test_depth_stops_counting_past_the_limit(limit: int, depth: int) -> None:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    found = depth_of(value, limit)
    assert (found > limit) == (depth > limit)
    assert found == depth if depth <= limit else found == limit + 1


@given(json_values)
def test_a_body_the_scan_clears_encodes_as_utf8(value: Any) -> None:
    body = json.dumps(value).encode()  # ensure_ascii: surrogates become \\uXXXX escapes
    if not may_hold_surrogates(body):
        json.dumps(json.loads(body), ensure_ascii=False).encode()


@given(st.text())
def test_text_with_a_lone_surrogate_is_always_flagged(text: str) -> None:
    body = json.dumps({"name": text}).encode()
    try:
        text.encode()
    except UnicodeEncodeError:
        assert may_hold_surrogates(body)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_the_fast_parse_reads_every_finite_float_as_the_strict_one(number: float) -> None:
    body = json.dumps([number]).encode()
    assert parse_json(body) == [number]


@pytest.mark.parametrize(
    "text", ["1e309", "-1E400", "1.5e+999", "9" * 400 + ".5", "1e0400", '{"a": [2e308]}']
)
def test_numbers_that_overflow_are_refused_on_the_fast_path_too(text: str) -> None:
    number = float(text) if text[0] != "{" else math.inf
    with pytest.raises(ApiError) as raised:
        parse_json(text.encode())
    if not math.isfinite(number):
        assert "out of range" in raised.value.message


# -- parse_json: orjson reads every body it can, and refuses just what the strict way does


def outcome(parse: Any, body: bytes) -> tuple[str, str]:
    try:
        return "value", repr(parse(body))  # repr: -0.0 and 0.0 differ, 1 and 1.0 too
    except ApiError as error:
        return error.code, error.message


_numbers = st.from_regex(
    r"-?(0|[1-9][0-9]{0,4})(\.[0-9]{1,6})?([eE][+-]?0?[0-9]{1,3})?", fullmatch=True
)
_tokens = (
    _numbers
    | st.sampled_from(
        ["NaN", "Infinity", "-Infinity", "1e400", "1.8e308", "1.7976931348623157e308"]
    )
    | st.sampled_from(['"ajs-e123-4f"', '"e-7"', "true", "null", "{}", "[1e-400]", "01", "1.", "]"])
)


@given(st.lists(_tokens, min_size=1, max_size=8))
def test_a_body_parses_or_is_refused_exactly_as_the_strict_parse_says(tokens: list[str]) -> None:
    body = ("[" + ",".join(tokens) + "]").encode()
    assert outcome(parse_json, body) == outcome(strict_json, body)


class _NoStdlib:
    @staticmethod
    def loads(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the body was read again by the standard library")


def test_a_body_with_hex_message_ids_is_read_by_orjson_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events = [
        {"type": "track", "messageId": "ajs-next-965eda32dae445508201e2bd73ab4876", "n": 1e300},
        {"type": "track", "messageId": "5e123e-456E789", "anonymousId": "x"},
    ]
    body = json.dumps(events).encode()
    monkeypatch.setattr("signal_dest_cio.host.intake.json", _NoStdlib)
    assert parse_json(body) == events


@pytest.mark.parametrize(
    "body",
    [
        b'[{"messageId":"ajs-e123","n":1e400}]',
        b'[{"messageId":"ajs-e123","n":-1e309}]',
        b'[{"messageId":"ajs-e123","n":NaN}]',
        b'[{"messageId":"ajs-e123","n":Infinity}]',
        b'[{"messageId":"ajs-e123",}]',
        b"[" * 5000 + b"]" * 5000,
        b'{"messageId": "\xff"}',
    ],
)
def test_bodies_json_cannot_carry_are_refused_with_the_same_error(body: bytes) -> None:
    with pytest.raises(ApiError) as raised:
        parse_json(body)
    code, message = outcome(strict_json, body)
    assert (raised.value.code, raised.value.message) == (code, message)
    assert code != "value"


def test_the_refusal_of_an_overflowing_number_names_it() -> None:
    with pytest.raises(ApiError) as raised:
        parse_json(b'[{"messageId":"ajs-e123","n":1e400}]')
    assert raised.value.code == "malformed_json"
    assert raised.value.message.startswith(
        "the body is not JSON: the number 1e400 is out of range (not finite)"
    )


# -- within_depth: one scan of the body, exactly the depth the walk counts


_tricky_text = st.text(
    alphabet=st.sampled_from(list('[]{}"\\/ab\n\u00e9\u2028'))
    | st.characters(exclude_categories=("Cs",)),
    max_size=8,
)
_tricky_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _tricky_text,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(_tricky_text, children, max_size=3)
    ),
    max_leaves=25,
)


def chain(kinds: list[bool], key: str, leaf: Any) -> Any:
    """Containers nested len(kinds) deep (True: an object under `key`, False: a list)."""
    value = leaf
    for is_object in kinds:
        value = {key: value, "s": "]]}"} if is_object else ["[[{", value]
    return value


_deep_values = st.builds(chain, st.lists(st.booleans(), max_size=40), _tricky_text, _tricky_values)


@given(st.one_of(_tricky_values, _deep_values), st.integers(1, 40), st.booleans())
def test_the_scan_clears_a_body_exactly_when_the_walk_finds_it_within_the_limit(
    value: Any, limit: int, ascii_only: bool
) -> None:
    body = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert within_depth(body, limit) == (depth_of(value, 1000) <= limit)


@given(st.lists(_deep_values, min_size=1, max_size=4), st.booleans())
def test_events_refused_as_too_deep_are_the_same_with_the_scan(
    values: list[Any], batch: bool
) -> None:
    events = [{"type": "track", "messageId": f"m{i}", "p": v} for i, v in enumerate(values)]
    body = json.dumps({"batch": events} if batch else events).encode()
    possible = not within_depth(body)
    for event in events:
        assert message_id(event, too_deep_possible=possible) == message_id(event)


@pytest.mark.parametrize(
    ("depth", "refused"), [(MAX_EVENT_DEPTH, False), (MAX_EVENT_DEPTH + 1, True)]
)
@pytest.mark.parametrize("wrap", ["event", "list", "batch"])
def test_an_event_at_the_limit_passes_and_one_past_it_is_refused(
    depth: int, refused: bool, wrap: str
) -> None:
    event = {"type": "track", "messageId": "m", "p": chain([True] * (depth - 1), "k[", 1)}
    assert depth_of(event, 1000) == depth
    body = json.dumps({"event": event, "list": [event], "batch": {"batch": [event]}}[wrap])
    possible = not within_depth(body.encode())
    assert possible == (refused or wrap != "event")  # a wrapper is one level more
    found, problem = message_id(event, too_deep_possible=possible)
    assert (problem is not None and problem["code"] == "too_deep") == refused
    assert found == (None if refused else "m")


def test_brackets_in_strings_and_escapes_do_not_count() -> None:
    shallow = {"a": '[[[[\\"{{{{', "b": "\\", "c": '"]]]]'}
    assert within_depth(json.dumps(shallow).encode(), 1)
    assert within_depth(json.dumps(shallow, ensure_ascii=False).encode(), 1)
    assert not within_depth(json.dumps({"a": ["\\\\"]}).encode(), 1)


def test_a_body_that_is_not_utf8_is_left_to_the_walk() -> None:
    assert within_depth(b"[[1]]", 2)
    assert not within_depth("[[1]]".encode("utf-16"), 40)
    assert not within_depth("[[1]]".encode("utf-32"), 40)


# -- the stored text of an event reads back as the value the standard library's would


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return repr(a) == repr(b)  # NaN, -0.0
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


_stored_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=5) | st.integers(), children, max_size=4)
    ),
    max_leaves=20,
)


def _written(encode: Any, value: Any) -> tuple[str, Any]:
    try:
        return "text", loads(encode(value))[0]
    except Exception as error:  # the same refusal, or none
        return "refused", type(error)


@given(_stored_values)
def test_an_event_stored_reads_back_as_it_did(value: Any) -> None:
    # Both stores write an event's text with `column_text` (PostgreSQL's was json.dumps,
    # whose value is the same; a lone surrogate, the one value it wrote and the others
    # refuse, never reaches a store: ingestion refuses the event).
    new = _written(column_text, value)
    old = _written(lambda v: dumps(v).decode(), value)
    assert new[0] == old[0]
    assert new[1] == old[1] if new[0] == "refused" else _same(new[1], old[1])


def test_a_nan_in_a_stored_event_is_not_read_back_as_null() -> None:
    value = {"n": float("nan"), "m": None, "i": float("-inf")}
    assert _same(loads(column_text(value))[0], value)
