"""`@cast` (SPEC 12): a resolved value to a string, number, boolean, unix time, or a
string's case or trim; one that cannot be cast is a `FieldError` (a `mapping_error`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..timestamps import to_unix_seconds
from .paths import MISSING

CASTS = ("string", "number", "boolean", "unix", "lower", "upper", "trim")


class FieldError(ValueError):
    """A field that resolved to something it cannot be, found while mapping an event."""


def text_of(value: Any) -> str:
    """A value as a template shows it: nothing for missing or null."""
    if value is MISSING or value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _to_string(value: Any) -> str:
    return text_of(value)


def _to_number(value: Any) -> int | float:
    if type(value) in (int, float):
        return value  # type: ignore[no-any-return]
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                number = float("nan")
            if number == number and abs(number) != float("inf"):
                return number
    raise FieldError(f"@cast to number: {_kind(value)} is not a number")


_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def _to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if type(value) in (int, float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise FieldError(f"@cast to boolean: {_kind(value)} is not true or false")


def _to_unix(value: Any) -> int:
    seconds = None if isinstance(value, bool) else to_unix_seconds(value)
    if seconds is None:
        raise FieldError(f"@cast to unix: {_kind(value)} is not a timestamp")
    return seconds


def _text_only(name: str, convert: Callable[[str], str]) -> Callable[[Any], str]:
    def cast(value: Any) -> str:
        if not isinstance(value, str):
            raise FieldError(f"@cast to {name}: {_kind(value)} is not a string")
        return convert(value)

    return cast


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    return {dict: "an object", list: "a list", bool: "a boolean"}.get(type(value), "a number")


CASTERS: dict[str, Callable[[Any], Any]] = {
    "string": _to_string,
    "number": _to_number,
    "boolean": _to_boolean,
    "unix": _to_unix,
    "lower": _text_only("lower", str.lower),
    "upper": _text_only("upper", str.upper),
    "trim": _text_only("trim", str.strip),
}
