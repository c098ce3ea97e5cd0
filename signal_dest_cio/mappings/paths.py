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
    """A function of a root that walks `segments`. The root is a parsed event (its
    fields read where they are: no view of the whole event is built per event) or, inside
    `@arrayPath`, a dict. The common paths (`event`, `properties.email`) are inlined."""
    if segments[0] == "context" and len(segments) > 1:
        top, rest = _context_getter(segments[1]), segments[2:]
    else:
        top, rest = _top_getter(segments[0]), segments[1:]
    if not rest:
        if len(segments) == 1 and segments[0] not in ("context", "type"):
            return _field_getter(segments[0])
        if len(segments) == 1:
            key = segments[0]
            return lambda root: root.get(key, MISSING) if type(root) is dict else top(root)
        return lambda root: walk(root, segments) if type(root) is dict else top(root)
    if len(rest) == 1 and segments[0] in _FIELD_DICTS:  # properties.x, traits.x: inlined
        attribute, last = segments[0], rest[0]

        def field_two(root: Any) -> Any:
            if type(root) is dict:
                return walk(root, segments)
            inner = root.__dict__[attribute]
            if type(inner) is dict:
                return inner.get(last, MISSING)
            return MISSING

        return field_two
    if len(rest) == 1:
        (last,) = rest

        def two(root: Any) -> Any:
            if type(root) is dict:
                return walk(root, segments)
            inner = top(root)
            if type(inner) is dict:
                return inner.get(last, MISSING)
            return MISSING if inner is MISSING else walk(inner, rest)

        return two

    def many(root: Any) -> Any:
        if type(root) is dict:
            return walk(root, segments)
        inner = top(root)
        return MISSING if inner is MISSING else walk(inner, rest)

    return many


def _field_getter(name: str) -> Getter:
    """`_top_getter` of one segment, the dict case beside it, in one call: the leaves of
    conditions (`userId = null`) read this for every event a rule is tried on."""
    attribute = _ATTRIBUTES.get(name, name)

    def get(root: Any) -> Any:
        if type(root) is dict:
            return root.get(name, MISSING)
        return _model_value(root, attribute, name)

    return get


def _model_value(model: Any, attribute: str, name: str) -> Any:
    """A parsed event's (or context's) field, else its extra key `name`; None and absent
    are MISSING, as the event view leaves them out."""
    value = model.__dict__.get(attribute, MISSING)
    if value is MISSING:
        extra = model.__pydantic_extra__
        return extra.get(name, MISSING) if extra else MISSING
    return MISSING if value is None else value


_ATTRIBUTES = {camel: snake for snake, camel in _TOP_FIELDS.items()}
_FIELD_DICTS = frozenset({"properties", "traits"})  # fields every event has, always dicts


def _top_getter(name: str) -> Getter:
    """A top-level field of a parsed event, by its camelCase name; an absent (None)
    field is MISSING, as the event view leaves it out."""
    if name == "context":
        return lambda event: _context_view(event.context)
    if name == "type":  # every event has one
        return lambda event: event.type
    attribute = _ATTRIBUTES.get(name, name)
    return lambda event: _model_value(event, attribute, name)


def _context_getter(name: str) -> Getter:
    return lambda event: _model_value(event.context, name, name)


def _context_view(context: Any) -> dict[str, Any]:
    values = {**context.__dict__, **(context.__pydantic_extra__ or {})}
    return {key: value for key, value in values.items() if value is not None}


def event_view(event: Event) -> dict[str, Any]:
    """The event as paths see it: JSON values under camelCase names, nothing absent shown
    (an empty userId is no userId), extra keys as the event gave them."""
    values = event.__dict__
    view: dict[str, Any] = dict(event.__pydantic_extra__ or {})
    for name, value in values.items():
        if value is None:
            continue
        if name == "context":
            view["context"] = _context_view(value)
        else:
            view[_TOP_FIELDS.get(name, name)] = value
    return view
