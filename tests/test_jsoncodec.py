"""jsoncodec reads and writes exactly what the standard library does, only faster."""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signal_dest_cio.jsoncodec import dumps, loads

MANY = settings(max_examples=400, deadline=None)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()  # far past 64 bits too
    | st.integers(min_value=-(2**64), max_value=2**65)
    | st.floats()  # NaN, Infinity, subnormals, 1e-7, 1e300
    | st.text()  # lone surrogates (category Cs) included
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _stdlib(value: Any, allow_nan: bool) -> bytes | type[Exception]:
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=allow_nan)
    try:
        return encoder.encode(value).encode()
    except Exception as error:
        return type(error)


def _ours(value: Any, allow_nan: bool) -> bytes | type[Exception]:
    try:
        return dumps(value, allow_nan=allow_nan)
    except Exception as error:
        return type(error)


@MANY
@given(value=values, allow_nan=st.booleans())
def test_dumps_writes_what_json_dumps_writes_byte_for_byte(value: Any, allow_nan: bool) -> None:
    assert _ours(value, allow_nan) == _stdlib(value, allow_nan)


@pytest.mark.parametrize(
    "value",
    [1e-05, 1.5e-05, -3.2e-07, 1e-9, 1e16, 5e-324, 1e-10, 0.0001, float("nan"), float("inf"),
     2**64, 2**64 - 1, -(2**63), -(2**63) - 1, 10**30, {1: "a"}, {None: 1}, {"a": None},
     "\ud800", [[[[]]]], {"t": (1, 2)}, "e-5", "0.0000", {"a": None, "b": float("nan")},
     [None, [2.5, -float("inf")]], [None, 1.5, 1.5], {"g": None, "n": "g\x00\xf0\x7f"}],
)  # fmt: skip
def test_dumps_corners_are_the_standard_librarys(value: Any) -> None:
    for allow_nan in (True, False):
        assert _ours(value, allow_nan) == _stdlib(value, allow_nan)


def test_dumps_refuses_what_json_refuses_although_orjson_would_write_it() -> None:
    @dataclasses.dataclass
    class Point:
        x: int

    class Text(str):
        pass

    for value in (datetime.datetime(2024, 1, 2), Point(1), {1, 2}, b"bytes"):
        with pytest.raises(TypeError):
            dumps({"v": value})
    assert dumps({"v": Text("x")}) == b'{"v":"x"}'


@MANY
@given(value=values, ascii_only=st.booleans())
def test_loads_reads_what_json_loads_reads(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)  # NaN, big ints and \ud800 escapes too
    expected = json.loads(text)
    got, plain = loads(text)
    assert _same(got, expected)
    assert _same(loads(text.encode("utf-8", "surrogatepass"))[0], expected)
    if plain:  # what orjson read needs no check: no NaN, no lone surrogate, no int past 64 bits
        json.dumps(got, ensure_ascii=False, allow_nan=False).encode()
        assert all(-(2**63) <= n < 2**64 for n in _ints(got))


@pytest.mark.parametrize(
    "text",
    ["12345678901234567890123", "-9223372036854775809", "18446744073709551616", "NaN",
     "[Infinity]", "1e400", '"\\ud800"', '{"a": 1, "a": 2}', b'\xef\xbb\xbf{"a": 1}', "-0"],
)  # fmt: skip
def test_loads_corners_are_the_standard_librarys(text: str | bytes) -> None:
    assert _same(loads(text)[0], json.loads(text))


@pytest.mark.parametrize("text", ["{", '{"a": 1,}', "", b"\xff\xfe", "[1] [2]"])
def test_loads_raises_what_json_raises(text: str | bytes) -> None:
    with pytest.raises(ValueError) as ours:
        loads(text)
    with pytest.raises(ValueError) as theirs:
        json.loads(text)
    assert str(ours.value) == str(theirs.value)


def test_loads_says_when_orjson_read_the_text() -> None:
    assert loads('{"a": [1, 2.5, "é"]}') == ({"a": [1, 2.5, "é"]}, True)
    assert loads('{"id": 12345678901234567890123}') == ({"id": 12345678901234567890123}, False)
    assert loads('"\\ud800"') == ("\ud800", False)


def test_a_long_run_of_digits_in_a_string_keeps_orjsons_reading() -> None:
    # Ids and hashes with 19 digits in a row are common; only a number past 64 bits
    # needs the standard library.
    text = '[{"messageId": "ajs-b2041c4785478305194504616503bde", "n": 1.5}]'
    assert loads(text) == (json.loads(text), True)


@pytest.mark.parametrize(
    "text",
    ['[{"id": "12345678901234567890"}, {"deep": [[{"n": -12345678901234567890}]]}]',
     '{"id": "9999999999999999999", "n": ' + "7" * 400 + "}",
     '{"n": 18446744073709551616, "s": "x"}'],
)  # fmt: skip
def test_an_integer_past_64_bits_beside_long_digit_strings_is_read_exactly(text: str) -> None:
    got, plain = loads(text)
    assert not plain
    assert _same(got, json.loads(text))


_digit_runs = st.integers(10**18, 10**30).map(str)
_long_digit_values = st.recursive(
    st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.builds(lambda a, b, c: a + b + c, st.text(max_size=3), _digit_runs, st.text(max_size=3)),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(_digit_runs, children, max_size=3)
    ),
    max_leaves=12,
)


@MANY
@given(value=_long_digit_values, indent=st.sampled_from([None, 0, 2, "\t"]))
def test_long_digit_runs_in_strings_and_numbers_read_as_json_reads_them(
    value: Any, indent: int | str | None
) -> None:
    # The byte before each run decides whether `json` must read the text: ids with
    # long digit runs (any neighbour), integers past 64 bits (after white space too).
    text = json.dumps(value, indent=indent)
    got, plain = loads(text)
    assert _same(got, json.loads(text))
    if plain:
        assert all(-(2**63) <= n < 2**64 for n in _ints(got))


def _ints(value: Any) -> list[int]:
    if isinstance(value, dict):
        return [n for item in value.values() for n in _ints(item)]
    if isinstance(value, list):
        return [n for item in value for n in _ints(item)]
    return [value] if isinstance(value, int) and not isinstance(value, bool) else []


def _same(a: Any, b: Any) -> bool:
    """Equal, types included (1 is not 1.0), NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)
