"""Every time conversion (SPEC section 3, Timestamps)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signal_dest_cio import timestamps
from signal_dest_cio.timestamps import (
    convert_iso_dates,
    event_time_ms,
    iso_to_unix_seconds,
    now_ms,
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


# --- SPEC 3.1, Time: the edges --------------------------------------------------------

MIDNIGHT = 1_704_153_600  # 2024-01-02T00:00:00Z


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2023-12-31T23:59:60Z", MIDNIGHT - 86_400 - 1),
        ("2024-01-01T23:59:60Z", MIDNIGHT - 1),
        ("2024-01-01T23:59:60.5Z", MIDNIGHT - 1),
        ("2024-01-02T00:59:60+01:00", MIDNIGHT - 1),  # the same leap second, an hour east
        ("2024-01-01T18:29:60-05:30", MIDNIGHT - 1),
    ],
)
def test_a_leap_second_counts_as_the_last_second_of_the_day(text: str, seconds: int) -> None:
    assert to_unix_seconds(text) == seconds
    assert iso_to_unix_seconds(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-01T12:00:60Z",  # second 60 is only ever 23:59:60 UTC
        "2024-01-01T23:59:60+01:00",  # that is 22:59:60 UTC
        "2024-01-01T23:59:61Z",
    ],
)
def test_a_second_60_anywhere_else_is_no_time(text: str) -> None:
    assert to_epoch_ms(text) is None


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("2024-01-01T12:00:00+18:00", True),
        ("2024-01-01T12:00:00-18:00", True),
        ("2024-01-01T12:00:00+1400", True),
        ("2024-01-01T12:00:00+18:01", False),
        ("2024-01-01T12:00:00+19", False),
        ("2024-01-01T12:00:00-23:00", False),
        ("2024-01-01T12:00:00+05:60", False),
        ("2024-01-01T12:00:00+0575", False),
    ],
)
def test_offsets_stay_within_18_hours_with_minutes_under_60(text: str, accepted: bool) -> None:
    assert (to_epoch_ms(text) is not None) is accepted
    assert (iso_to_unix_seconds(text) is not None) is accepted


@pytest.mark.parametrize(
    "text",
    [
        "\u0662\u0660\u0662\u0664-\u0660\u0661-\u0660\u0661T12:00:00Z",  # Arabic-Indic digits
        "\uff12\uff10\uff12\uff14-01-01",  # fullwidth digits
        "2024-01-01T\uff11\uff12:00:00Z",
        "\u0661\u0667\u0660\u0664\u0661\u0661\u0660\u0664\u0660\u0660",  # epoch, Arabic-Indic
    ],
)
def test_digits_other_than_ascii_are_no_time(text: str) -> None:
    assert to_epoch_ms(text) is None
    assert convert_iso_dates({"at": text}) == {"at": text}


@pytest.mark.parametrize("text", ["20240102", "20240102T120000Z", "20240102T12:00:00Z"])
def test_basic_format_strings_are_no_time(text: str) -> None:
    assert to_epoch_ms(text) is None
    assert convert_iso_dates([text]) == [text]


def test_digit_strings_of_other_lengths_are_still_epoch_numbers() -> None:
    assert to_unix_seconds(str(NOON)) == NOON
    assert to_unix_seconds("2024010") == 2_024_010
    assert to_unix_seconds("202401021") == 202_401_021


def test_the_event_time_is_the_first_time_given() -> None:
    noon_ms = NOON * 1000

    assert event_time_ms(NOON, "2030-01-01", None) == (noon_ms, False)
    assert event_time_ms(None, NOON, "2030-01-01") == (noon_ms, False)
    assert event_time_ms(None, None, "2024-01-01T12:00:00Z") == (noon_ms, False)
    # Present and unparseable: no time, and the caller warns; nothing after it is read.
    assert event_time_ms("soon", NOON, NOON) == (None, True)
    assert event_time_ms(None, "", NOON) == (None, True)


def test_no_time_given_at_all_is_now_and_no_mistake() -> None:
    before = now_ms()
    ms, invalid = event_time_ms(None, None, None)

    assert ms is not None and before <= ms <= now_ms()
    assert invalid is False


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    noise=st.sampled_from(["", "T", "t", "-", ":", ".", "Z", "٢", "a", "60", "29", "24"]),
    at=st.integers(min_value=0, max_value=23),
)
def test_the_javascript_form_is_read_by_position_as_the_pattern_reads_it(
    moment: datetime, noise: str, at: int
) -> None:
    text = f"{moment.year:04d}-" + moment.strftime("%m-%dT%H:%M:%S.")
    text += f"{moment.microsecond // 1000:03d}Z"
    text = text[:at] + noise + text[at + len(noise) :] if noise else text  # some broken
    fast = to_epoch_ms(text)
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(timestamps, "_parse_js_ms", lambda text: None)
        assert to_epoch_ms(text) == fast  # the general pattern agrees, whatever the text
    if not noise:
        since = moment.replace(tzinfo=UTC) - EPOCH
        assert fast == since.days * 86_400_000 + since.seconds * 1000 + since.microseconds // 1000
