"""Every time conversion in one place: event times, dedup-id times, attribute dates."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable
from datetime import date, datetime
from functools import lru_cache
from typing import Any

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_EPOCH = datetime(1970, 1, 1)
# Epoch numbers above this are milliseconds (1e11 s is the year 5138).
_MILLISECONDS_ABOVE = 1e11
# ULID time is 48 bits of milliseconds; no time we accept lies beyond it.
MAX_EPOCH_MS = 2**48 - 1

# Offsets run from -18:00 to +18:00 (RFC 3339, and what every zone database holds).
_MAX_OFFSET_MINUTES = 18 * 60
# Strict ISO-8601 extended date or date-time: what `convert_timestamps` turns into unix
# seconds. ASCII digits only (`\d` would take Arabic-Indic or fullwidth digits too).
_ISO = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]+))?)?"
    r"([Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?)?"
)
# An epoch number written as text. Exactly eight digits is left out: that is an
# ISO-8601 basic-format date (`20240102`), and as epoch seconds it would be 1970.
_EPOCH_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_BASIC_DATE = re.compile(r"[0-9]{8}")


def _parse_iso_ms(text: str) -> int | None:
    if len(text) == 24 and text[23] == "Z":  # JavaScript's toISOString(): most event times
        ms = _parse_js_ms(text)
        if ms is not None:
            return ms
    match = _ISO.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    hours, minutes, seconds = int(hour or 0), int(minute or 0), int(second or 0)
    # The ranges `datetime` enforces, checked by hand: every event's time comes through
    # here, and day arithmetic on an ordinal is cheaper than building and subtracting
    # datetimes. `date` still validates the day (no 30 February, no year 0).
    leap = seconds == 60  # a leap second, 23:59:60 UTC: counted as 23:59:59
    if hours > 23 or minutes > 59 or seconds > 60:
        return None
    try:
        days = _days_since_epoch(year, month, day)
    except ValueError:
        return None
    ms = (((days * 24 + hours) * 60 + minutes) * 60 + seconds - leap) * 1000
    if fraction:
        ms += int(fraction[:3].ljust(3, "0"))
    if offset and offset not in "Zz":
        digits = offset[1:].replace(":", "")
        offset_hours, offset_minutes = int(digits[:2]), int(digits[2:4] or 0)
        total = offset_hours * 60 + offset_minutes
        if offset_minutes > 59 or total > _MAX_OFFSET_MINUTES:
            return None
        ms += (-1 if offset[0] == "+" else 1) * total * 60_000
    # A leap second is only ever the last second of a UTC day (whatever the offset).
    if leap and ms // 1000 % 86_400 != 86_399:
        return None
    return ms


def _parse_js_ms(text: str) -> int | None:
    """`YYYY-MM-DDTHH:MM:SS.sssZ` (24 characters) read in C; None for anything else (or a
    time the general pattern must judge, such as a leap second), which `_parse_iso_ms`
    then reads. The separators are checked here: `fromisoformat` takes any."""
    if (
        text[4] != "-" or text[7] != "-" or text[10] not in "Tt" or text[13] != ":"
        or text[16] != ":" or text[19] != "." or not text.isascii()
        or not text[20:23].isdigit()  # (`fromisoformat` would read `.00Z` as a fraction)
    ):  # fmt: skip
        return None
    try:
        since = datetime.fromisoformat(text[:23]) - _EPOCH  # ASCII digits, ranges checked
    except ValueError:
        return None
    # Exact: a timedelta's parts are integers (and this is cheaper than dividing by one).
    return (since.days * 86_400 + since.seconds) * 1000 + since.microseconds // 1000


@lru_cache(maxsize=1024)  # the times in a batch of events fall on a few days
def _days_since_epoch(year: str, month: str, day: str) -> int:
    return date(int(year), int(month), int(day)).toordinal() - _EPOCH_ORDINAL


def _epoch_number_ms(value: float) -> int | None:
    if not math.isfinite(value):
        return None
    if abs(value) > _MILLISECONDS_ABOVE:
        return math.floor(value)
    return math.floor(value * 1000)


def to_epoch_ms(value: Any) -> int | None:
    """Milliseconds since the epoch (floored), or None when `value` is no time we know.

    Accepts ISO-8601 extended-format text (any number of fraction digits, `Z`,
    offsets up to ±18:00, naive means UTC, `23:59:60` as `23:59:59`), epoch numbers
    (over 1e11 means milliseconds) and ASCII digit strings, except the eight digits of
    a basic-format date (SPEC 3.1, Time).
    """
    if isinstance(value, str):  # the usual case first: every event's time comes through here
        if len(value) == 24 and value[23] == "Z":  # most event times: toISOString()'s form
            # Read as it stands: it cannot start with whitespace (that is no year) and
            # ends in `Z`, so stripping would not change it, and a year of four digits
            # keeps it within MAX_EPOCH_MS.
            ms = _parse_js_ms(value)
            if ms is not None:
                return ms
        text = value.strip()
        ms = _parse_iso_ms(text)
        if ms is None and _EPOCH_TEXT.fullmatch(text) and not _BASIC_DATE.fullmatch(text):
            ms = _epoch_number_ms(float(text))
    elif isinstance(value, bool):
        return None
    elif isinstance(value, (int, float)):
        ms = _epoch_number_ms(value)
    else:
        return None
    if ms is None or abs(ms) > MAX_EPOCH_MS:
        return None
    return ms


def now_ms() -> int:
    """The clock, in epoch milliseconds: the time of an event that names none."""
    return time.time_ns() // 1_000_000


def event_time_ms(*candidates: Any) -> tuple[int | None, bool]:
    """An event's time in epoch ms, and whether the value given for it was unparseable.

    `candidates` are the event's times in order of preference (`timestamp`,
    `originalTimestamp`, `receivedAt`). The first one present decides: parsed, it is
    the time; unparseable, there is no time (and the caller warns). None present at
    all is no mistake: the event happened now (SPEC 3.1, Time).
    """
    for value in candidates:
        if value is not None:
            ms = to_epoch_ms(value)
            return ms, ms is None
    return now_ms(), False


def to_unix_seconds(value: Any) -> int | None:
    """Integer unix seconds, floored; None when unparseable."""
    ms = to_epoch_ms(value)
    return None if ms is None else ms // 1000


def iso_to_unix_seconds(value: str) -> int | None:
    """Unix seconds for a strict ISO-8601 date or date-time string, else None."""
    if len(value) < 10 or not "0" <= value[0] <= "9":
        return None
    ms = _parse_iso_ms(value)
    if ms is None or abs(ms) > MAX_EPOCH_MS:
        return None
    return ms // 1000


def convert_iso_dates(value: Any) -> Any:
    """`value` with every strict ISO-8601 string inside it (nested too) as unix seconds.

    The caller's dicts and lists are never changed: one that holds a date is copied
    and the copy converted; one that holds none is returned itself (copying every dict
    of an order's line items cost a fifth of the walk). This runs over every property
    of every event with a date in it, so items are looked at inline rather than with a
    call each, and a string is parsed only when it could be a date at all: 10
    characters or more with `-` at index 4, as `YYYY-` requires.
    """
    if isinstance(value, dict):
        return _dates_in(value, value.items())
    if isinstance(value, list):
        return _dates_in(value, enumerate(value))
    if isinstance(value, str) and len(value) >= 10 and value[4] == "-":
        seconds = iso_to_unix_seconds(value)
        return value if seconds is None else seconds
    return value


def _dates_in(container: Any, members: Iterable[tuple[Any, Any]]) -> Any:
    """`convert_iso_dates` of a dict (its items) or a list (enumerated)."""
    converted = None
    for key, item in members:
        if isinstance(item, str):
            if len(item) < 10 or item[4] != "-" or (new := iso_to_unix_seconds(item)) is None:
                continue
        elif isinstance(item, dict):
            if (new := _dates_in(item, item.items())) is item:
                continue
        elif isinstance(item, list):
            if (new := _dates_in(item, enumerate(item))) is item:
                continue
        else:
            continue
        if converted is None:
            converted = dict(container) if isinstance(container, dict) else list(container)
        converted[key] = new
    return container if converted is None else converted
