"""What one mapping call knows (the event, its time, person, dedup id and warnings), and
the checks every event type shares: identifiers, event data, attributes, names.

Pure, like the mapper it serves (`mapping.py`, `objects.py`, `metrics.py`): a problem
is raised as `Refusal` and turned into `Refused` at `map_event`'s edge.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .config import CustomerIoConfig
from .dedup import dedup_id
from .events import Event
from .identity import MAX_IDENTIFIER_BYTES, Person, resolve_person
from .jsoncodec import dumps
from .text import identifier_problem
from .timestamps import convert_iso_dates, event_time_ms

MAX_NAME_BYTES = 100
MAX_DATA_BYTES = 100_000
MAX_ATTRIBUTE_NAME_BYTES = 150
MAX_ATTRIBUTE_VALUE_BYTES = 1000


# Where a JSON text may hold an ISO-8601 date string: `"YYYY-` (ASCII digits, as the
# date pattern has them).
_DATE_START = re.compile(rb'"[0-9]{4}-').search
_DASHES_LOOKED_AT = 8


def may_hold_date(encoded: bytes) -> bool:
    """True when a JSON text holds `"YYYY-`, where an ISO-8601 date string would start.

    The first few dashes are looked behind in Python before the pattern runs: event data
    holds few of them (under one on average) but many quotes, each of which the pattern
    tries, so this costs a third of it. Past that many dashes the pattern decides, so that
    a text full of them costs no more than it did."""
    at = 4
    for _ in range(_DASHES_LOOKED_AT):
        at = encoded.find(b"-", at + 1)
        if at == -1:
            return False
        if encoded[at - 5] == 0x22 and encoded[at - 4 : at].isdigit():  # (bytes: ASCII only)
            return True
    return _DATE_START(encoded) is not None


class Refusal(Exception):
    """Raised inside the mapper, turned into `Refused` at its edge."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


def check_identifier(value: str, field: str) -> None:
    if problem := identifier_problem(value, field):
        raise Refusal(problem.code, problem.message, field)


def _may_be_unfit(value: str) -> bool:
    """False when `identifier_problem` surely finds nothing: at most 37 characters (148
    UTF-8 bytes) and no dot segment."""
    return len(value) * 4 > MAX_IDENTIFIER_BYTES or value in (".", "..")


class MappingContext:
    """What one mapping call knows: the event, its time, its dedup id and its warnings."""

    def __init__(self, event: Event, config: CustomerIoConfig, *, checking: bool = False) -> None:
        time_ms = self._begin(event, config, checking)
        self.event_id = dedup_id(event.message_id, time_ms)
        # A group's traits are the object's: its `traits.email` is never the person.
        traits = {} if event.type == "group" else event.traits
        self.person = resolve_person(event.user_id, traits, event.context.traits, event.properties)
        # The checks only for what could fail them (over 37 characters, or a dot
        # segment): every event has a person or an anonymous id, nearly all short.
        if self.person is not None and _may_be_unfit(self.person.value):
            check_identifier(self.person.value, "user_id" if event.user_id else "email")
        self.anonymous_id = event.anonymous_id
        if (
            self.anonymous_id
            and _may_be_unfit(self.anonymous_id)
            and (problem := identifier_problem(self.anonymous_id, "anonymous_id"))
        ):
            if self.person is None:
                raise Refusal(problem.code, problem.message, problem.field)
            # The person is known; an unusable anonymous id only costs the merge.
            self.warnings.append(f"anonymous_id_dropped:{problem.reason}")
            self.anonymous_id = None

    def _begin(self, event: Event, config: CustomerIoConfig, checking: bool = False) -> int | None:
        """The event, the config, no warnings yet, the event's time in seconds; its time in
        milliseconds returned (what dedup ids are made of).

        `checking`: only whether the event can be sent is wanted (Pipelines mode sends the
        event's own values), so dates are not converted. Converting only ever shortens a
        value's JSON, so it never makes a check fail that passed without it."""
        self.event = event
        self.config = config
        self.convert_dates = config.convert_timestamps and not checking
        self.warnings: list[str] = []
        time_ms, invalid = event_time_ms(
            event.timestamp, event.original_timestamp, event.received_at
        )
        if invalid:
            self.warnings.append("timestamp_invalid")
        self.seconds = None if time_ms is None else time_ms // 1000
        return time_ms

    def require_person(self) -> Person:
        if self.person is None:
            kind = self.event.type
            raise Refusal(
                "missing_identifier",
                f"{kind} needs a person: set userId, or an email in traits or properties",
                "user_id",
            )
        return self.person

    def data(self, values: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        """Event data (a new dict, timestamps converted) and its compact JSON.

        The JSON is what the 100,000-byte limit is measured on; it travels with the
        operation so that rendering splices it in instead of encoding it again.
        """
        values = dict(values)
        try:
            encoded = dumps(values, allow_nan=False)
            # Converting dates walks every value in Python, which costs more than encoding
            # in C. A date string shows in the JSON as a quote, four digits and `-`, so the
            # walk (and a second encoding) happens only when the encoding has one.
            if self.convert_dates and may_hold_date(encoded):
                converted = convert_iso_dates(values)
                if converted is not values:  # (none of those strings was a date: unchanged)
                    values, encoded = converted, dumps(converted, allow_nan=False)
        except (ValueError, TypeError):  # NaN or Infinity (or, from Python, a set)
            raise Refusal(
                "invalid_value",
                "event data holds NaN, Infinity or another value JSON cannot carry",
                "properties",
            ) from None
        if len(encoded) > MAX_DATA_BYTES:
            raise Refusal(
                "payload_too_large",
                f"event data is {len(encoded)} bytes; Customer.io accepts at most {MAX_DATA_BYTES}",
                "properties",
            )
        return values, encoded

    def attributes(self, values: dict[str, Any], where: str) -> dict[str, Any]:
        """Person/object/device attributes: timestamps converted, oversized ones dropped."""
        if self.convert_dates:
            values = convert_iso_dates(values)
        kept: dict[str, Any] = {}
        for name, value in values.items():
            # A character is at most 4 UTF-8 bytes: short names and strings need no
            # encoding (nor a call) to tell, and most attributes are both.
            if len(name) * 4 > MAX_ATTRIBUTE_NAME_BYTES and (
                len(name.encode()) > MAX_ATTRIBUTE_NAME_BYTES
            ):
                self.warnings.append(f"attribute_dropped:{where}.{name[:40]}:name_over_150_bytes")
            elif type(value) is str and len(value) * 4 <= MAX_ATTRIBUTE_VALUE_BYTES:
                kept[name] = value
            elif problem := value_problem(value):
                self.warnings.append(f"attribute_dropped:{where}.{name}:{problem}")
            else:
                kept[name] = value
        return kept

    def name(self, name: str) -> str:
        encoded = name.encode()
        if len(encoded) <= MAX_NAME_BYTES:
            return name
        self.warnings.append("name_truncated")
        return encoded[:MAX_NAME_BYTES].decode("utf-8", "ignore")


def value_problem(value: Any) -> str | None:
    """Why an attribute value cannot be sent, or None when it can."""
    if isinstance(value, str):
        size = len(value.encode())
    elif isinstance(value, float):
        # A float's JSON is a few bytes at most; only NaN and Infinity have none.
        return None if math.isfinite(value) else "not_json"
    elif isinstance(value, (dict, list)):
        try:
            size = len(dumps(value, allow_nan=False))
        except (ValueError, TypeError):
            return "not_json"  # NaN or Infinity inside (or, from Python, a set)
    elif isinstance(value, int):  # bool too
        # Over 3322 bits is over 1000 digits (and past 4300, no JSON encoder writes it).
        return "value_over_1000_bytes" if value.bit_length() > 3322 else None
    else:
        return None if value is None else "not_json"  # from Python: bytes, sets, ...
    return "value_over_1000_bytes" if size > MAX_ATTRIBUTE_VALUE_BYTES else None
