"""Every time conversion in one place: event times, dedup-id times, attribute dates."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
# Epoch numbers above this are milliseconds (1e11 s is the year 5138).
_MILLISECONDS_ABOVE = 1e11
# ULID time is 48 bits of milliseconds; no time we accept lies beyond it.
MAX_EPOCH_MS = 2**48 - 1

# Strict ISO-8601 date or date-time: what `convert_timestamps` turns into unix seconds.
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"([Zz]|[+-]\d{2}(?::?\d{2})?)?)?"
)


def _parse_iso_ms(text: str) -> int | None:
    match = _ISO.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    ms = (moment - _EPOCH) // _ONE_MS
    if fraction:
        ms += int(fraction[:3].ljust(3, "0"))
    if offset and offset not in "Zz":
        sign = -1 if offset[0] == "+" else 1
        digits = offset[1:].replace(":", "")
        ms += sign * (int(digits[:2]) * 60 + int(digits[2:4] or 0)) * 60_000
    return ms


def _epoch_number_ms(value: float) -> int | None:
    if not math.isfinite(value):
        return None
    if abs(value) > _MILLISECONDS_ABOVE:
        return math.floor(value)
    return math.floor(value * 1000)


def to_epoch_ms(value: Any) -> int | None:
    """Milliseconds since the epoch (floored), or None when `value` is no time we know.

    Accepts ISO-8601 text (any number of fraction digits, `Z`, offsets, naive
    means UTC), epoch numbers (over 1e11 means milliseconds) and digit strings.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        ms = _epoch_number_ms(value)
    elif isinstance(value, str):
        text = value.strip()
        ms = _parse_iso_ms(text)
        if ms is None and re.fullmatch(r"-?\d+(?:\.\d+)?", text):
            ms = _epoch_number_ms(float(text))
    else:
        return None
    if ms is None or abs(ms) > MAX_EPOCH_MS:
        return None
    return ms


def to_unix_seconds(value: Any) -> int | None:
    """Integer unix seconds, floored; None when unparseable."""
    ms = to_epoch_ms(value)
    return None if ms is None else ms // 1000


def iso_to_unix_seconds(value: str) -> int | None:
    """Unix seconds for a strict ISO-8601 date or date-time string, else None."""
    if len(value) < 10 or not value[0].isdigit():
        return None
    ms = _parse_iso_ms(value)
    if ms is None or abs(ms) > MAX_EPOCH_MS:
        return None
    return ms // 1000


def convert_iso_dates(value: Any) -> Any:
    """`value` with every strict ISO-8601 string inside it (nested too) as unix seconds."""
    if isinstance(value, str):
        seconds = iso_to_unix_seconds(value)
        return value if seconds is None else seconds
    if isinstance(value, dict):
        return {key: convert_iso_dates(item) for key, item in value.items()}
    if isinstance(value, list):
        return [convert_iso_dates(item) for item in value]
    return value
