"""Every time conversion (SPEC section 3, Timestamps)."""

from __future__ import annotations

from typing import Any

import pytest

from signal_dest_cio.timestamps import (
    convert_iso_dates,
    iso_to_unix_seconds,
    to_epoch_ms,
    to_unix_seconds,
)

NOON = 1_704_110_400  # 2024-01-01T12:00:00Z


@pytest.mark.parametrize(
    ("fraction", "ms"),
    [
        ("", 0),
        (".1", 100),
        (".12", 120),
        (".123", 123),
        (".1234", 123),
        (".12345", 123),
        (".123456", 123),
        (".1234567", 123),
        (".12345678", 123),
        (".999999999", 999),
    ],
)
def test_iso_times_take_zero_to_nine_fraction_digits_and_floor(fraction: str, ms: int) -> None:
    text = f"2024-01-01T12:00:00{fraction}Z"

    assert to_epoch_ms(text) == NOON * 1000 + ms
    assert to_unix_seconds(text) == NOON


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-01T12:00:00Z",
        "2024-01-01t12:00:00z",
        "2024-01-01T12:00:00+00:00",
        "2024-01-01T14:00:00+02:00",
        "2024-01-01T14:00:00+0200",
        "2024-01-01T14:00:00+02",
        "2024-01-01T06:30:00-05:30",
        "2024-01-01T07:00:00.999-05:00",
        "2024-01-01T12:00:00",  # naive means UTC
        "2024-01-01 12:00:00",
        "2024-01-01T12:00Z",
        " 2024-01-01T12:00:00Z ",
    ],
)
def test_iso_times_with_z_offsets_or_naive_are_utc(text: str) -> None:
    assert to_unix_seconds(text) == NOON


def test_a_date_alone_is_midnight_utc() -> None:
    assert to_unix_seconds("2024-01-01") == NOON - 12 * 3600


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (NOON, NOON),
        (NOON + 0.999, NOON),
        (NOON * 1000 + 999, NOON),  # over 1e11: milliseconds
        (float(NOON * 1000) + 999.9, NOON),
        (100_000_000_000, 100_000_000_000),  # exactly 1e11 is still seconds
        (100_000_000_001, 100_000_000),
        (str(NOON), NOON),
        (f"{NOON * 1000}", NOON),
        (0, 0),
        (-1.5, -2),  # floored, not truncated towards zero
        (-0.0005, -1),
        ("1969-12-31T23:59:59.9995Z", -1),
    ],
)
def test_epoch_numbers_are_seconds_unless_over_1e11(value: Any, seconds: int) -> None:
    assert to_unix_seconds(value) == seconds


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "yesterday",
        "2024-02-30T00:00:00Z",
        "2024-01-01T25:00:00Z",
        "2024-13-01",
        "01/02/2024",
        "2024-01-01T12:00:00Zjunk",
        True,
        False,
        {"seconds": 1},
        [NOON],
        float("nan"),
        float("inf"),
        10**30,
        "1e400",
    ],
)
def test_unparseable_times_are_none(value: Any) -> None:
    assert to_epoch_ms(value) is None
    assert to_unix_seconds(value) is None


def test_strict_iso_check_rejects_numbers_and_loose_text() -> None:
    assert iso_to_unix_seconds("2024-01-01T12:00:00Z") == NOON
    assert iso_to_unix_seconds(str(NOON)) is None
    assert iso_to_unix_seconds("2024") is None
    assert iso_to_unix_seconds("Jan 1 2024") is None
    assert iso_to_unix_seconds(" 2024-01-01") is None


def test_convert_iso_dates_reaches_nested_objects_and_lists() -> None:
    value = {
        "signed_up": "2024-01-01T12:00:00Z",
        "plan": {"renews": "2024-01-01T14:00:00+02:00", "name": "pro", "seats": 3},
        "history": [{"at": "2024-01-01"}, "2024-01-01T12:00:00.5Z", "soon"],
        "zip": "20240",
        "epoch_text": str(NOON),
        "flag": True,
        "nothing": None,
    }

    assert convert_iso_dates(value) == {
        "signed_up": NOON,
        "plan": {"renews": NOON, "name": "pro", "seats": 3},
        "history": [{"at": NOON - 12 * 3600}, NOON, "soon"],
        "zip": "20240",
        "epoch_text": str(NOON),
        "flag": True,
        "nothing": None,
    }
