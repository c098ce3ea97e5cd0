"""JSON in and out at orjson's speed, byte for byte what the standard library reads and writes.

Every event is decoded once and its data encoded once or twice, so JSON is most of
the mapper's cost. orjson does both several times faster than `json`, but it is not
the same in a few corners, and bodies must stay exactly what `json.dumps(value,
ensure_ascii=False, separators=(",", ":"))` writes (tests hold encoded == rendered;
Customer.io sees the same bytes either way). Each corner is caught and handed to the
standard library, so the answer is always the standard library's:

- decoding: orjson turns an integer outside 64 bits into a float, and refuses NaN,
  Infinity, `1e400` and lone surrogate escapes that `json` reads. A text with a run of
  19 digits or more that may be a number (a cheap byte scan, which looks at the byte
  before each run: one inside an id or a hash is no number), or one orjson refuses, is
  read by `json.loads` (which raises as it always did);
- encoding: orjson writes NaN and Infinity as `null` (`json` writes `NaN`, or raises
  with `allow_nan=False`; output with `null` in it is looked at through `marshal`, which
  shows any non-finite float), floats under 1e-4 differently (`0.00001`, `1e-7` against
  `1e-05`, `1e-07`), and serializes datetimes, dataclasses and subclasses that `json`
  treats otherwise (those are passed through to refusal here). Output that may hold
  NaN, or holds `0.0000` or a one-digit negative exponent, and anything orjson refuses (a non-str
  key, an integer past 64 bits, a lone surrogate, nesting past 255), is encoded again
  by `json`. `tests/test_jsoncodec.py` holds both to the standard library with
  hypothesis.

`dumps_value` is for text that is only stored and read back (the host's JSON columns):
it keeps orjson's own form where it holds the same value, and leaves to `json` only
what orjson refuses or may have written as `null`.
"""

from __future__ import annotations

import json
import marshal
import re
from typing import Any

import orjson

_STRICT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_LENIENT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# Whatever orjson would write in its own way goes to `default` (none: TypeError) instead.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
_OPTIONS |= orjson.OPT_PASSTHROUGH_SUBCLASS
# A one-digit negative exponent, as orjson writes it (`json` pads it: `e-07`).
_SHORT_EXPONENT = re.compile(rb"e-[1-9](?![0-9])").search
_NON_FINITE = re.compile(rb"[g\xe7][\x00-\xff]{6}[\xf0-\xff][\x7f\xff]").search
# Every byte but the ASCII digits becomes a space: a run of digits is then a run of `0`.
_DIGIT_RUNS = bytes(48 if 48 <= byte <= 57 else 32 for byte in range(256))
_LONG_DIGITS = b"0" * 19  # 19 digits can pass -2**63; 20 can pass 2**64 - 1
_BEFORE_A_NUMBER = frozenset(b":,[ \t\n\r-")


# Byte searches here are `find` (or an integer needle, which is `memchr`), never `bytes
# in bytes`: on this CPython (3.11) `in` with a bytes needle costs ~0.2 us even on a
# two-byte haystack (measured; it seems to try the needle as an integer first), against
# ~0.1 for `find` and ~0.03 for an integer; every event's encodings are searched about
# seven times.


def dumps(value: Any, allow_nan: bool = True) -> bytes:
    """`json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()`, faster.

    With `allow_nan=False` NaN and Infinity raise ValueError, as `json` does; a lone
    surrogate raises UnicodeEncodeError, a value JSON has no form for TypeError.
    """
    encoded = _orjson_faithful(value)
    if (
        encoded is not None
        and encoded.find(b"0.0000") == -1
        and (encoded.find(b"e-") == -1 or _SHORT_EXPONENT(encoded) is None)
    ):
        return encoded
    return (_LENIENT if allow_nan else _STRICT).encode(value).encode()


def dumps_value(value: Any) -> bytes:
    """JSON that `loads` reads back as `value`, not necessarily `json`'s bytes (a float
    under 1e-4 is orjson's `0.00001`, not `1e-05`): for text that is stored, never sent.
    Raises as `dumps` does."""
    encoded = _orjson_faithful(value)
    return _LENIENT.encode(value).encode() if encoded is None else encoded


def _orjson_faithful(value: Any) -> bytes | None:
    """orjson's encoding of `value`, or None where it may not hold the same value: orjson
    refused it, or a `null` in it may be a NaN or Infinity orjson wrote so."""
    try:
        encoded = orjson.dumps(value, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError: let the standard library decide
        return None
    if encoded.find(b"null") != -1 and _may_hold_non_finite(value):
        return None
    return encoded


def _may_hold_non_finite(value: Any) -> bool:
    """False only when `value` surely holds no NaN or Infinity (orjson wrote `null` for
    one, or the `null` is a None): `marshal` writes a float as `g` (`\\xe7` when shared)
    and its 8 bytes, little-endian, and a non-finite double has every exponent bit set,
    so its last byte is 0x7f or 0xff. Output with neither byte anywhere (nearly all)
    needs no pattern scan, which costs ~10x the two byte searches."""
    try:
        written = marshal.dumps(value)
    except ValueError:
        return True
    if 0x7F not in written and 0xFF not in written:
        return False
    return _NON_FINITE(written) is not None


def loads(text: str | bytes | bytearray) -> tuple[Any, bool]:
    """`json.loads(text)`, faster, and whether orjson read it.

    A value orjson read is plain JSON through and through: str keys, valid Unicode
    (no lone surrogate), finite floats, integers within 64 bits. Errors are `json`'s
    (ValueError, RecursionError), with its messages.
    """
    try:
        data = text.encode() if isinstance(text, str) else bytes(text)
    except UnicodeEncodeError:  # a lone surrogate in the text itself
        return json.loads(text), False
    if _may_hold_a_long_integer(data):
        return json.loads(text), False
    try:
        return orjson.loads(data), True
    except orjson.JSONDecodeError:
        return json.loads(text), False


def _may_hold_a_long_integer(data: bytes) -> bool:
    """Whether a run of 19 digits or more in `data` may be an integer (which orjson
    would read as a float past 64 bits). Most such runs are parts of strings (ids,
    hashes: a batch of a hundred events often holds one) and orjson reads those right:
    a number's digits follow what may come before a number in JSON (`:`, `,`, `[`,
    white space, a minus sign, or nothing), a string's most often follow a letter. A
    run after one of those is taken to be a number, in a string or not (`json` then
    reads the text, as it always may); one after anything else is no number."""
    runs = data.translate(_DIGIT_RUNS)
    at = runs.find(_LONG_DIGITS)
    while at != -1:
        if at == 0 or data[at - 1] in _BEFORE_A_NUMBER:
            return True
        end = runs.find(b" ", at)
        if end == -1:
            return False
        at = runs.find(_LONG_DIGITS, end)
    return False
