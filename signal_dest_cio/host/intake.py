"""What ingestion accepts: the body's shape, each event's messageId, and the limits.

- The body is one event, a JSON array of events, or `{"batch": [...]}` (a `batch`
  that is not a list is refused), at most `MAX_EVENTS_PER_REQUEST` events.
- Numbers must be finite: `NaN`, `Infinity` and literals that overflow (`1e309`)
  are refused, since JSON cannot carry them back out.
- An event is at most `MAX_EVENT_DEPTH` objects/arrays deep (the event itself is
  depth 1, its `properties` 2, ...): deeper data could not be shown or delivered.
- An event without a messageId gets one derived from the request (its
  `Idempotency-Key`, else its signature) and its place in it, so a client that
  retries the same signed call never queues the same events twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
from typing import Any

from ..jsoncodec import loads
from .errors import ApiError

MAX_EVENTS_PER_REQUEST = 1000
MAX_MESSAGE_ID_LENGTH = 255
MAX_EVENT_DEPTH = 32


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range (not finite)")
    return value


# Text that is not UTF-8 (a lone surrogate) can only come from a \uD800-\uDFFF escape.
_SURROGATE_ESCAPE = re.compile(rb"\\[uU][dD][89a-fA-F]")


def parse_json(body: bytes) -> Any:
    """Strict JSON: no NaN/Infinity, no number that overflows to infinity, not too deep.

    What orjson reads is strict already: it refuses NaN, Infinity and any literal that
    overflows to infinity (`1e309`), so only the text it refuses (or leaves to `json`) is
    read again by `json`, which says why."""
    with contextlib.suppress(ValueError, RecursionError):
        value, plain = loads(body)
        if plain:  # orjson read it: finite numbers, no NaN, no lone surrogate
            return value
    return strict_json(body)


def strict_json(body: bytes) -> Any:
    """`parse_json`'s definition, the standard library's way (what orjson read must agree
    with it): NaN, Infinity and overflow refused, the reason said."""
    try:
        return json.loads(body, parse_constant=_reject_constant, parse_float=_finite)
    except RecursionError:
        raise ApiError(
            400, "too_deep", f"the body is nested too deeply (at most {MAX_EVENT_DEPTH} levels)"
        ) from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiError(400, "malformed_json", f"the body is not JSON: {error}") from None


def event_list(body: bytes) -> list[Any]:
    """One event, a JSON array of events, or a Segment-style `{"batch": [...]}`."""
    data = parse_json(body)
    if isinstance(data, dict) and "batch" in data:
        if not isinstance(data["batch"], list):
            raise ApiError(400, "invalid_batch", "`batch` must be a list of events")
        data = data["batch"]
    items = data if isinstance(data, list) else [data]
    if not items:
        raise ApiError(400, "empty_batch", "the request holds no event")
    if len(items) > MAX_EVENTS_PER_REQUEST:
        raise ApiError(
            413, "too_many_events", f"at most {MAX_EVENTS_PER_REQUEST} events per request"
        )
    return items


def may_hold_surrogates(body: bytes) -> bool:
    """Whether the body's text could decode to a lone surrogate (not UTF-8 once out)."""
    return _SURROGATE_ESCAPE.search(body) is not None


# A body's brackets, with `{}` written as `[]` and its quotes kept; all else is dropped.
_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b'"[]{}')


def within_depth(body: bytes, limit: int = MAX_EVENT_DEPTH) -> bool:
    """True only when the JSON text `body` (UTF-8) is at most `limit` objects/arrays deep,
    so no event in it is deeper; False when it may be deeper, or is not UTF-8.

    A byte scan, not a walk: drop each escaped backslash and escaped quote, then all but
    the quotes and brackets, then the brackets inside strings (those with an odd count of
    quotes before them). Each `replace` of `[]` then removes the innermost containers,
    so the text empties within `limit` passes exactly when nothing is deeper."""
    if b"\x00" in body:  # UTF-16 or UTF-32 (UTF-8 JSON holds no NUL): not scanned
        return False
    if b"\\" in body:  # only in strings; pairs taken from the left, as JSON reads them
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    text = body.translate(_BRACKETS, _NOT_BRACKETS).replace(b'""', b"")  # keeps parity
    if b'"' in text:  # some string holds a bracket: keep what lies outside the strings
        text = b"".join(text.split(b'"')[::2])
    for _ in range(limit):
        if not text:
            return True
        text = text.replace(b"[]", b"")
    return not text


def depth_of(value: Any, stop_after: int = MAX_EVENT_DEPTH) -> int:
    """How many objects/arrays deep `value` goes (stops counting past `stop_after`, so
    the recursion is never deeper than that)."""
    if not isinstance(value, dict | list):
        return 0
    return _depth(value, 1, stop_after)


def _depth(container: dict[str, Any] | list[Any], depth: int, stop_after: int) -> int:
    if depth > stop_after:
        return depth
    deepest = depth
    for child in container.values() if isinstance(container, dict) else container:
        if isinstance(child, dict | list):
            deepest = max(deepest, _depth(child, depth + 1, stop_after))
            if deepest > stop_after:
                break
    return deepest


def message_id(
    item: Any, *, surrogates_possible: bool = True, too_deep_possible: bool = True
) -> tuple[str | None, dict[str, str] | None]:
    """The event's messageId (None: it has none), or the problem that refuses the event.

    `surrogates_possible=False` (`may_hold_surrogates` said no for the whole body)
    skips encoding the event to prove its text is UTF-8; `too_deep_possible=False`
    (`within_depth` said yes for the whole body) skips counting its depth."""
    if not isinstance(item, dict):
        return None, {"code": "invalid_event", "message": "an event must be a JSON object"}
    if too_deep_possible and depth_of(item) > MAX_EVENT_DEPTH:
        return None, {
            "code": "too_deep",
            "message": f"the event is nested more than {MAX_EVENT_DEPTH} levels deep",
        }
    try:
        if surrogates_possible:
            json.dumps(item, ensure_ascii=False).encode()
    except UnicodeError:
        return None, {"code": "invalid_event", "message": "the event holds text that is not UTF-8"}
    value = item.get("messageId", item.get("message_id"))
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None, {"code": "invalid_message_id", "message": "messageId must be a string"}
    text = str(value).strip()
    if len(text) > MAX_MESSAGE_ID_LENGTH:
        return None, {
            "code": "invalid_message_id",
            "message": f"messageId is over {MAX_MESSAGE_ID_LENGTH} characters",
        }
    return text, None


def derived_message_id(request_key: str, index: int) -> str:
    """The id of the `index`-th event of a request that gave it none: the same request
    (same Idempotency-Key, or same signed body and timestamp) gives the same ids."""
    digest = hashlib.sha256(f"{request_key}\n{index}".encode()).hexdigest()
    return f"host-{digest[:32]}"
