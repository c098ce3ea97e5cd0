"""Deterministic ULID dedup ids, so retries and replays never duplicate in Customer.io."""

from __future__ import annotations

import hashlib
import os
import re
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
_MAX_TIME_MS = 2**48 - 1


def _encode(value: int) -> str:
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def _ulid(time_ms: int, randomness: bytes) -> str:
    time_ms = min(max(time_ms, 0), _MAX_TIME_MS)
    return _encode((time_ms << 80) | int.from_bytes(randomness[:10], "big"))


def is_ulid(value: str) -> bool:
    return _ULID.fullmatch(value.upper()) is not None


def dedup_id(message_id: str | None, time_ms: int | None) -> str:
    """The event's ULID: 48 bits of event time, 80 bits of a hash of the messageId.

    A messageId that already is a ULID is used as is (upper-cased). Without a
    messageId there is nothing to derive from, so the id is fresh.
    """
    if not message_id:
        return _ulid(time.time_ns() // 1_000_000, os.urandom(10))
    if is_ulid(message_id):
        return message_id.upper()
    digest = hashlib.blake2b(message_id.encode("utf-8"), digest_size=10).digest()
    return _ulid(time_ms or 0, digest)
