"""structlog processors: secrets never leave the process in a log line.

The plugin never configures structlog; a host adds `redact_secrets` to its own
processor chain (the CLI does), and `register_secret` teaches it the values.
Put `redact_secrets` after `format_exc_info` and just before the renderer, so
it sees tracebacks and everything earlier processors added.
"""

from __future__ import annotations

import functools
import re
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = re.compile(r"(api_key|apikey|secret|token|password|authorization)", re.I)
_BASIC = re.compile(r"(?i)\b(basic|bearer)\s+[A-Za-z0-9+/=._-]+")
_SCALARS = (int, float, bool, type(None))
_known_secrets: set[str] = set()
REDACTED = "[redacted]"


def register_secret(value: str) -> None:
    """Remember a secret value so any log line that contains it is scrubbed."""
    if len(value) >= 4:
        _known_secrets.add(value)


def scrub(text: str, secrets: set[str] | frozenset[str] | None = None) -> str:
    """`text` with every known (or given) secret value replaced by `[redacted]`."""
    if not text:
        return text
    return _scrubbed(text, _ordered(secrets))


def _ordered(secrets: set[str] | frozenset[str] | None) -> tuple[str, ...]:
    """The secrets to scrub, longest first, so one that contains another is replaced whole."""
    if isinstance(secrets, frozenset):
        return _longest_first(secrets)
    return tuple(sorted(_known_secrets if secrets is None else secrets, key=len, reverse=True))


def _scrubbed(text: str, ordered: tuple[str, ...]) -> str:
    for secret in ordered:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


@functools.lru_cache(maxsize=256)
def _longest_first(secrets: frozenset[str]) -> tuple[str, ...]:
    """A host scrubs every outcome of a batch with the same set: sorted once."""
    return tuple(sorted(secrets, key=len, reverse=True))


@functools.lru_cache(maxsize=4096)
def _secret_key(key: str) -> bool:
    """Whether a key names a secret; a host asks for the same few keys of every outcome."""
    return _SECRET_KEYS.search(key) is not None


def _basic_masked(match: re.Match[str]) -> str:
    return f"{match.group(1)} {REDACTED}"


def _credentials_masked(text: str) -> str:
    """`text` with Basic/Bearer credentials masked. ASCII text without either word (nearly
    all) is known clean from two substring tests, ~5x cheaper than the pattern's scan;
    other text meets the pattern, whose case-insensitive match goes beyond ASCII."""
    if text.isascii():
        lowered = text.lower()
        if "basic" not in lowered and "bearer" not in lowered:
            return text
    return _BASIC.sub(_basic_masked, text)


def redact(value: Any) -> Any:
    """`value` with secret-named keys, known secrets and Basic/Bearer credentials masked."""
    return redact_with(value, None)


# Values returned as they are, looked up by exact type before any isinstance (a subclass
# takes the longer way and meets the same rule there).
_PLAIN_TYPES = frozenset({int, float, bool, type(None)})


def redact_with(value: Any, secrets: set[str] | frozenset[str] | None) -> Any:
    """`redact`, scrubbing the given secret values (None: every registered one).

    A flat dict (a host scrubs every event's outcome: strings, numbers, lists of
    strings, no secret-named key) whose texts hold nothing to scrub, nearly every one,
    is copied after one look at its texts joined instead of the walk (~10 us -> ~3)."""
    ordered = _ordered(secrets)
    if type(value) is dict:
        flat = _flat_copy(value)
        if flat is not None and _nothing_to_scrub(flat[1], ordered):
            return flat[0]
    return _redacted(value, ordered)


def _flat_copy(value: dict[Any, Any]) -> tuple[dict[str, Any], list[str]] | None:
    """A copy (its lists copied too, as the walk makes them) of a dict of strings,
    numbers and lists of strings under keys that name no secret, and its texts; None
    for any other dict, which the walk takes."""
    if not _names_no_secret(tuple(value)):
        return None
    copied: dict[str, Any] = {}
    texts: list[str] = []
    for key, item in value.items():
        kind = type(item)
        if kind is str:
            texts.append(item)
        elif kind is list:
            for text in item:
                if type(text) is not str:
                    return None
            texts += item
            item = list(item)
        elif kind not in _PLAIN_TYPES:
            return None
        copied[key] = item
    return copied, texts


@functools.lru_cache(maxsize=256)
def _names_no_secret(keys: tuple[Any, ...]) -> bool:
    """Whether every key is a plain str that names no secret; a host asks it for the
    same few keys of every outcome."""
    return all(type(key) is str and not _secret_key(key) for key in keys)


def _nothing_to_scrub(texts: list[str], ordered: tuple[str, ...]) -> bool:
    """True when no text holds a secret or a Basic/Bearer credential, so the walk would
    hand each back as it is. They are looked at joined: each is a part of the joined
    text, so what the join does not hold, none of them holds. Non-ASCII text takes the
    walk (the pattern's case-insensitive match goes beyond ASCII)."""
    joined = "\x00".join(texts)
    if not joined.isascii():
        return False
    lowered = joined.lower()
    if "basic" in lowered or "bearer" in lowered:
        return False
    for secret in ordered:  # noqa: SIM110 (a loop: `all()` over a generator costs more)
        if secret in joined:
            return False
    return True


def _redacted(value: Any, ordered: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return _credentials_masked(_scrubbed(value, ordered)) if value else value
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, dict):
        plain = _PLAIN_TYPES
        return {
            key: REDACTED
            if _secret_key(key if isinstance(key, str) else str(key))
            else item
            if type(item) in plain
            else _redacted(item, ordered)
            for key, item in value.items()
        }
    if isinstance(value, tuple):
        # A plain tuple, even for a namedtuple (its constructor takes fields, not one iterable).
        return tuple(_redacted(item, ordered) for item in value)
    if isinstance(value, (list, set, frozenset)):
        return [_redacted(item, ordered) for item in value]
    # Anything else reaches the renderer through str()/repr(); redact that text
    # if it carries a secret, and otherwise leave the object for later processors.
    try:
        text = str(value)
    except Exception:
        return value
    cleaned = _redacted(text, ordered)
    return value if cleaned == text else cleaned


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: masks secret-named keys, known secret values and auth headers.

    Edits the event dict in place, so a host's own context class survives. `exc_info`
    is left to `format_exc_info`, which must run first for tracebacks to be scrubbed.
    """
    for key, value in event_dict.items():
        if key != "exc_info":
            event_dict[key] = REDACTED if _SECRET_KEYS.search(key) else redact(value)
    return event_dict


def get_logger(**context: Any) -> Any:
    """A lazy logger: it is assembled from the host's structlog config when it logs,
    not when the destination is built, so configuring structlog later still counts."""
    return structlog.get_logger("signal_dest_cio", destination="customer_io", **context)
