"""What an event may hold (SPEC section 3.1, Text): text UTF-8 can carry, and
identifiers that can stand in a path.

A Python string can hold a lone surrogate ("\\ud800", which JSON's `\\u` escapes
let through) that UTF-8 cannot encode; it would make a later encoding raise out
of delivery. So parsing refuses such an event up front, naming the first place
(in document order) that holds one. Every event is checked, so the check is
cheap (see `encoding_problem`); the walk in Python that names the place runs
only when it finds something.
"""

from __future__ import annotations

import json
import marshal
import re
from dataclasses import dataclass
from typing import Any

from .identity import too_long

# Deeper than any real event, shallow enough that the walk finds what made the
# (recursive, C) encoder give up before it does.
MAX_DEPTH = 500
# `quote(value, safe="")` leaves dots alone, so these would move up a v1 path.
_DOT_SEGMENTS = frozenset({".", ".."})

# NaN is let through: the mapper has its own rules for it (rejected in event data,
# dropped from attributes). No circular check: a cycle fails as too deep instead.
_EXACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)
_SCALARS = (bool, float, type(None))
_KEY_TYPES = (str, int, float, bool, type(None))  # what json turns into a key
_LONG_INT_BITS = 10_000  # below this an int always prints (the limit is 4300 digits)
# UTF-8 of U+D800..U+DFFF, the surrogates: bytes that valid UTF-8 never holds.
_SURROGATE_BYTES = re.compile(rb"\xed[\xa0-\xbf]").search


@dataclass(frozen=True, slots=True)
class Problem:
    """Why an event cannot be carried: the refusal's code, message and field."""

    code: str
    message: str
    field: str | None
    reason: str = ""  # a short slug, for a warning when the value is dropped instead


def is_valid_text(value: str) -> bool:
    """True when UTF-8 can encode `value` (no lone surrogate in it)."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def is_dot_segment(value: str) -> bool:
    """True for "." and "..": an identifier that can never be a path segment."""
    return value in _DOT_SEGMENTS


def identifier_problem(value: str, field: str) -> Problem | None:
    """Why `value` (trimmed) cannot identify anyone, or None when it can."""
    if too_long(value):
        return Problem("identifier_too_long", f"{field} is over 150 bytes", field, "over_150_bytes")
    if value in _DOT_SEGMENTS:
        message = f"{field} is {value!r}, which can never be a path segment"
        return Problem("invalid_identifier", message, field, "dot_segment")
    return None


def trimmed(value: Any) -> str | None:
    """`value` without surrounding whitespace when it is a string with more than that."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def printable(text: str) -> str:
    """`text` with anything UTF-8 cannot carry written as a backslash escape."""
    return text.encode("utf-8", "backslashreplace").decode()


def encoding_problem(value: Any) -> Problem | None:
    """None when `value` (decoded JSON) encodes as UTF-8 JSON; else the first place that
    stops it.

    `marshal` answers first, at a fifth of the cost of a JSON encoding: it writes a
    non-ASCII string as UTF-8 with surrogates passed through, so its output holds a
    surrogate's bytes exactly when the value holds a surrogate (or by chance, inside a
    binary number). Only then, or for a value marshal refuses (a subclass, a stranger
    type, nesting past 2000), does the exact check run: a JSON encoding, and when that
    fails the walk. Types JSON has no form for but marshal takes (sets, bytes) are no
    decoded JSON; the mapper's own encodings refuse them.
    """
    try:
        written = marshal.dumps(value)
    except ValueError:
        return exact_problem(value)
    # `in` first: a plain byte search is a fraction of the cost of the pattern's.
    if 0xED not in written or _SURROGATE_BYTES(written) is None:
        return None
    return exact_problem(value)


def exact_problem(value: Any) -> Problem | None:
    """`encoding_problem` without the shortcut: one JSON encoding, and the walk on failure."""
    try:
        _EXACT.encode(value).encode()
    except (ValueError, TypeError, RecursionError) as error:  # UnicodeEncodeError included
        found = first_problem(value)
        if found is not None:
            return found
        return Problem("invalid_value", f"the event is not JSON: {printable(str(error))}", None)
    return None


def first_problem(value: Any) -> Problem | None:
    """The first place in `value`, in document order, that JSON or UTF-8 cannot carry.

    Iterative, so that nesting deep enough to break the encoder cannot break this.
    """
    # (path, item, depth, is_key); children are pushed in reverse so they pop in order.
    stack: list[tuple[str, Any, int, bool]] = [("", value, 0, False)]
    while stack:
        path, item, depth, is_key = stack.pop()
        if isinstance(item, str):
            if not is_valid_text(item):
                what = f"the key of {path}" if is_key else _label(path)
                message = f"{what} is not valid Unicode: it holds a lone surrogate (UTF-8 has none)"
                return Problem("invalid_text", message, path or None)
        elif is_key:
            if not isinstance(item, _KEY_TYPES):
                return _not_json(path, f"has a key of type {type(item).__name__}")
        elif isinstance(item, int) and not isinstance(item, bool):
            if item.bit_length() > _LONG_INT_BITS and not _prints(item):
                return _not_json(path, "is an integer too long to write out")
        elif isinstance(item, (dict, list, tuple)):
            if depth >= MAX_DEPTH:
                top = _top(path)
                return _not_json(top, f"is nested more than {MAX_DEPTH} levels deep")
            children: list[tuple[str, Any, int, bool]] = []
            if isinstance(item, dict):
                for key, child in item.items():
                    child_path = _join(path, key)
                    children.append((child_path, key, depth + 1, True))
                    children.append((child_path, child, depth + 1, False))
            else:
                for index, child in enumerate(item):
                    children.append((f"{path}[{index}]", child, depth + 1, False))
            stack.extend(reversed(children))
        elif not isinstance(item, _SCALARS):
            return _not_json(path, f"is not a JSON value ({type(item).__name__})")
    return None


def _prints(number: int) -> bool:
    try:
        repr(number)
    except ValueError:
        return False
    return True


def _join(path: str, key: Any) -> str:
    name = (printable(key) or '""') if isinstance(key, str) else str(key)  # "": not the root
    return f"{path}.{name}" if path else name


def _top(path: str) -> str:
    """The event member a path starts in: `properties` for `properties.a[0].b`."""
    for at, char in enumerate(path):
        if char in ".[":
            return path[:at]
    return path


def _label(path: str) -> str:
    return path or "the event"


def _not_json(path: str, problem: str) -> Problem:
    return Problem(
        "invalid_value", f"{_label(path)} {problem}, which JSON cannot carry", path or None
    )
