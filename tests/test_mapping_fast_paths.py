"""The mapper's fast paths, each held to the plain form it stands in for."""

from __future__ import annotations

import copy
import json
import math
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signal_dest_cio import timestamps
from signal_dest_cio.config import CustomerIoConfig
from signal_dest_cio.dedup import _ulid, dedup_id
from signal_dest_cio.events import IdentifyEvent
from signal_dest_cio.identity import Person
from signal_dest_cio.jsoncodec import dumps
from signal_dest_cio.mapping_context import (
    MAX_ATTRIBUTE_NAME_BYTES,
    MappingContext,
    _may_be_unfit,
    value_problem,
)
from signal_dest_cio.operations import Operation
from signal_dest_cio.render import encode_body
from signal_dest_cio.text import identifier_problem

# Dates left as they are: the attribute checks are what is compared.
CONFIG = CustomerIoConfig.model_validate(
    {
        "site_id": "s",
        "tracking_api_key": "k",
        "api_key": "a",
        "region": "us",
        "convert_timestamps": False,
    }
)

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def reference_ulid(time_ms: int, randomness: bytes) -> str:
    """A ULID the slow way: 128 bits, five at a time, from the top."""
    value = min(max(time_ms, 0), 2**48 - 1) << 80 | int.from_bytes(randomness[:10], "big")
    return "".join(CROCKFORD[value >> shift & 31] for shift in range(125, -1, -5))


@given(st.integers(min_value=-(2**70), max_value=2**70), st.binary(min_size=10, max_size=16))
def test_ulid_is_the_crockford_base32_of_time_and_randomness(time_ms: int, data: bytes) -> None:
    assert _ulid(time_ms, data) == reference_ulid(time_ms, data)


def test_dedup_ids_stay_what_they_were() -> None:
    # Pinned: a replay after an upgrade must produce the id the first delivery had.
    assert dedup_id("msg-1", 1_704_110_400_123) == "01HK2EA8KVW3MQCJ88DGJBD17A"


def general_epoch_ms(value: object) -> int | None:
    """`to_epoch_ms` with its JavaScript-form shortcut turned off: the general pattern."""
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(timestamps, "_parse_js_ms", lambda text: None)
        return timestamps.to_epoch_ms(value)


def _javascript_form(moment: datetime, at: int, noise: str) -> str:
    """`toISOString()`'s form of `moment`, with `noise` written over it at `at` (24 long)."""
    text = f"{moment.year:04d}-" + moment.strftime("%m-%dT%H:%M:%S.")
    text += f"{moment.microsecond // 1000:03d}Z"
    return text[:at] + noise + text[at + len(noise) :]


_JS_SHAPED = st.builds(
    _javascript_form,
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    st.integers(min_value=0, max_value=22),
    st.sampled_from(["", " ", "\t", "\u3000", "x", "٣", "+", "_", "0", "9", "T", "t", "-", ":"]),
)


@given(st.one_of(_JS_SHAPED, st.text(min_size=24, max_size=24).map(lambda t: t[:23] + "Z")))
def test_the_javascript_shortcut_reads_a_time_as_the_general_pattern_does(text: str) -> None:
    assert len(text) == 24 and text.endswith("Z")
    assert timestamps.to_epoch_ms(text) == general_epoch_ms(text)
    shifted = " " + text[:22] + "Z"  # whitespace first, still 24 characters
    assert timestamps.to_epoch_ms(shifted) == general_epoch_ms(shifted)


_JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and Infinity too: bodies around the data may hold them
    | st.text()
)
_JSON = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


def _compact(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


@given(
    others=st.dictionaries(st.text(), _JSON, max_size=5),
    data=st.dictionaries(st.text(), _JSON, max_size=4),
    key=st.sampled_from(["attributes", "data"]),
    at=st.integers(min_value=0, max_value=5),
    same=st.booleans(),
)
def test_a_body_with_its_data_spliced_in_is_the_body_encoded(
    others: dict[str, Any], data: dict[str, Any], key: str, at: int, same: bool
) -> None:
    # Wherever the data stands (last in v2 items, inside v1 bodies, alone), and when the
    # body holds an equal copy instead of the data itself.
    others.pop(key, None)
    pairs = list(others.items())
    pairs.insert(min(at, len(pairs)), (key, data if same else dict(data)))
    body = dict(pairs)
    op = Operation("event", person=Person("u"), attributes=data, data_json=dumps(data))
    assert encode_body(body, op) == _compact(body)


def reference_convert(value: Any) -> Any:
    """`convert_iso_dates` as it was first written: every dict and list copied."""
    if isinstance(value, dict):
        return {key: reference_convert(item) for key, item in value.items()}
    if isinstance(value, list):
        return [reference_convert(item) for item in value]
    if isinstance(value, str):
        seconds = timestamps.iso_to_unix_seconds(value)
        return value if seconds is None else seconds
    return value


_DATES = st.sampled_from(
    ["2024-01-02", "2024-01-02T03:04:05.678Z", "2024-01-02T03:04:05+01:00", "2024-02-30",
     "2024-01-02T23:59:60Z", "٢٠٢٤-01-02", "2024-01-02x", "20240102", "2024-1-2", "SKU-123456",
     "1999-12-31 23:59:59.999999999", "\ud800024-01-02"]
) | st.datetimes().map(lambda moment: moment.isoformat())  # fmt: skip
_KEYS = st.text(max_size=4) | st.integers() | st.none() | st.booleans() | st.floats()
_WITH_DATES = st.recursive(
    _JSON_SCALARS | st.floats() | _DATES | st.text(alphabet="0123456789-T:.Z", min_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=12,
)


@given(_WITH_DATES)
def test_converting_dates_copies_only_what_changes_and_gives_what_copying_all_gave(
    value: Any,
) -> None:
    before = copy.deepcopy(value)
    converted = timestamps.convert_iso_dates(value)
    expected = reference_convert(value)
    assert _same(converted, expected)
    assert _same(value, before)  # the caller's values are never changed
    if _same(expected, value):
        assert converted is value  # nothing to convert: nothing copied


@given(_WITH_DATES)
def test_converting_dates_never_makes_the_json_longer(value: Any) -> None:
    # Pipelines mode runs the Track mapper's checks without converting (`checking`): a
    # size check passed before converting is then passed after it too.
    try:
        given_json = dumps(value, allow_nan=False)
    except (ValueError, TypeError):  # NaN, or a key JSON has no text for
        return
    assert len(dumps(timestamps.convert_iso_dates(value), allow_nan=False)) <= len(given_json)


def _same(left: Any, right: Any) -> bool:
    """Equal, with NaN equal to NaN and the types of numbers told apart (1 is not 1.0)."""
    if type(left) is not type(right) and not (isinstance(left, dict) and isinstance(right, dict)):
        return False
    if isinstance(left, dict):
        return list(left) == list(right) and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(_same, left, right))
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right)
    return bool(left == right)


@given(st.text(max_size=60) | st.sampled_from([".", "..", " . ", "a" * 37, "é" * 38, "😀" * 38]))
def test_an_identifier_the_shortcut_passes_has_no_problem(value: str) -> None:
    if not _may_be_unfit(value):
        assert identifier_problem(value, "user_id") is None


@given(
    st.dictionaries(
        st.text(max_size=45) | st.sampled_from(["n" * 151, "é" * 76, "😀" * 38]),
        st.text(max_size=300) | st.sampled_from(["x" * 1001, "é" * 501, "😀" * 251]) | _JSON,
        max_size=5,
    )
)
def test_attributes_keep_and_drop_what_value_problem_says(values: dict[str, Any]) -> None:
    ctx = MappingContext(IdentifyEvent(type="identify", userId="u"), CONFIG)
    kept = ctx.attributes(values, "traits")
    expected = {
        name: value
        for name, value in values.items()
        if len(name.encode()) <= MAX_ATTRIBUTE_NAME_BYTES and value_problem(value) is None
    }
    assert kept == expected
    assert len(ctx.warnings) == len(values) - len(expected)
