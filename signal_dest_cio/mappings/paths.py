"""Paths into an event (SPEC 12): `properties.email`, `$.context.traits.plan`, `items.0`.

A path is a list of segments, walked through dicts (by key) and lists (by index)
only: nothing else is ever looked into, and no attribute of a Python object is read.
Written as text, segments are joined by `.`; a `\\` makes the next character part of
the segment (`properties.first\\ name`, `properties.a\\.b`), and a leading `$.` (as
Segment writes `@path`) is allowed. Top-level snake_case names (`user_id`) mean
their camelCase form: the event view has the camelCase names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from ..events import Event


class _Missing:
    """No value at a path (not the same as null)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()

Getter = Callable[[Any], Any]  # a root (dict) -> the value at the path, or MISSING

# The names the canonical events give in snake_case too; the view has the camelCase.
TOP_ALIASES = {
    "user_id": "userId",
    "anonymous_id": "anonymousId",
    "message_id": "messageId",
    "group_id": "groupId",
    "previous_id": "previousId",
    "original_timestamp": "originalTimestamp",
    "received_at": "receivedAt",
}
_TOP_FIELDS = {
    "message_id": "messageId",
    "user_id": "userId",
    "anonymous_id": "anonymousId",
    "original_timestamp": "originalTimestamp",
    "received_at": "receivedAt",
    "group_id": "groupId",
    "previous_id": "previousId",
}
SPECIAL = frozenset('.\\ ()[],=!<>"')  # characters written escaped in a path's text


class PathError(ValueError):
    """A path that cannot be walked (empty, an empty segment, a dangling escape)."""


def parse_path(text: Any) -> tuple[str, ...]:
    """The segments of a path given as text or as a list of strings and numbers."""
    if isinstance(text, list):
        if not text:
            raise PathError("a path must name at least one segment")
        parts: list[str] = []
        for part in text:
            if isinstance(part, bool) or not isinstance(part, (str, int)):
                raise PathError("a path's segments must be strings or numbers")
            parts.append(str(part))
        return _normalised(parts)
    if not isinstance(text, str):
        raise PathError("a path must be a string like properties.email")
    if text.startswith("$."):
        text = text[2:]
    elif text == "$":
        raise PathError("a path must name a field, not the whole event ($)")
    segments: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
            continue
        if char == "\\":
            escaped = True
        elif char == ".":
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        raise PathError(f"the path {text!r} ends in a lone backslash")
    segments.append("".join(current))
    return _normalised(segments)


def _normalised(segments: Sequence[str]) -> tuple[str, ...]:
    if not segments or any(segment == "" for segment in segments):
        raise PathError("a path may not be empty or hold an empty segment (a..b, a.)")
    first = TOP_ALIASES.get(segments[0], segments[0])
    return (first, *segments[1:])


def print_path(segments: Sequence[str]) -> str:
    """The text form `parse_path` reads back to the same segments."""
    text = ".".join(
        "".join("\\" + char if char in SPECIAL or char.isspace() else char for char in segment)
        for segment in segments
    )
    return "\\" + text if text.startswith("$") else text  # not Segment's `$.` prefix


def walk(value: Any, segments: Sequence[str]) -> Any:
    """The value at `segments` under `value`, through dicts and lists only; else MISSING."""
    for segment in segments:
        if type(value) is dict:
            value = value.get(segment, MISSING)
            if value is MISSING:
                return MISSING
        elif type(value) is list:
            if not segment.isdigit():  # ASCII digits only: no "-1", no " 1"
                return MISSING
            index = int(segment)
            if index >= len(value):
                return MISSING
            value = value[index]
        else:
            return MISSING
    return value


def getter(segments: tuple[str, ...]) -> Getter:
    """A function of a root that walks `segments` (one and two segments inlined: the
    common case, `event` or `properties.email`, costs one or two lookups)."""
    if len(segments) == 1:
        (key,) = segments

        def one(root: Any) -> Any:
            return root.get(key, MISSING) if type(root) is dict else walk(root, segments)

        return one
    if len(segments) == 2:
        first, second = segments

        def two(root: Any) -> Any:
            if type(root) is dict:
                inner = root.get(first)
                if type(inner) is dict:
                    return inner.get(second, MISSING)
            return walk(root, segments)

        return two
    return lambda root: walk(root, segments)


def event_view(event: Event) -> dict[str, Any]:
    """The event as paths see it: JSON values under camelCase names, nothing absent shown
    (an empty userId is no userId), extra keys as the event gave them."""
    values = event.__dict__
    view: dict[str, Any] = dict(event.__pydantic_extra__ or {})
    for name, value in values.items():
        if value is None:
            continue
        if name == "context":
            context = {**value.__dict__, **(value.__pydantic_extra__ or {})}
            view["context"] = {k: v for k, v in context.items() if v is not None}
        else:
            view[_TOP_FIELDS.get(name, name)] = value
    return view
