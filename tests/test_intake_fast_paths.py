"""Ingestion's shortcuts answer what the long way would: the overflow scan, the surrogate
scan and the recursive depth count, against their plain definitions."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signal_dest_cio.host.errors import ApiError
from signal_dest_cio.host.intake import depth_of, may_hold_surrogates, parse_json

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
