"""Pure: a canonical event -> the Customer.io operations it becomes (SPEC section 3).

No I/O here. Problems come back as `Refused` (filtered or rejected), never as
exceptions; adjustments (truncated names, dropped attributes, bad timestamps)
come back as warnings on `Mapped`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from .config import CustomerIoConfig
from .dedup import dedup_id
from .devices import device_of
from .events import (
    AliasEvent,
    Event,
    GroupEvent,
    IdentifyEvent,
    InvalidEvent,
    PageEvent,
    ScreenEvent,
    TrackEvent,
    parse_event,
)
from .identity import Person, resolve_person
from .operations import Mapped, Operation, Refused, compact_json, compact_json_text
from .text import identifier_problem, is_dot_segment, trimmed
from .timestamps import convert_iso_dates, to_epoch_ms, to_unix_seconds

MAX_NAME_BYTES = 100
MAX_DATA_BYTES = 100_000
MAX_ATTRIBUTE_NAME_BYTES = 150
MAX_ATTRIBUTE_VALUE_BYTES = 1000

DEVICE_EVENTS_WITH_TRACK = {"Application Installed", "Application Opened"}
DEVICE_DELETE_EVENTS = {"Application Uninstalled": True, "Device Deleted": False}
PERSON_LIFECYCLE = {
    "User Deleted": "delete",
    "User Suppressed": "suppress",
    "User Unsuppressed": "unsuppress",
}
_IDENTITY_TRAITS = {"userId", "user_id", "anonymousId", "anonymous_id"}
_PAGE_FIELDS = ("url", "path", "referrer", "search", "title")
# Where a JSON text may hold an ISO-8601 date string: `"YYYY-` (\d as the date regex has it).
_MAY_HOLD_DATE = re.compile(r'"\d{4}-').search


class _Refusal(Exception):
    """Raised inside the mapper, turned into `Refused` at its edge."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


class _Context:
    """What one mapping call knows: the event, its time, its dedup id and its warnings."""

    def __init__(self, event: Event, config: CustomerIoConfig) -> None:
        self.event = event
        self.config = config
        self.warnings: list[str] = []
        raw_time = event.timestamp if event.timestamp is not None else event.original_timestamp
        time_ms = to_epoch_ms(raw_time)
        if time_ms is None:
            self.warnings.append("timestamp_invalid")
        self.seconds = None if time_ms is None else time_ms // 1000
        self.event_id = dedup_id(event.message_id, time_ms)
        self.person = resolve_person(
            event.user_id, event.traits, event.context.traits, event.properties
        )
        if self.person is not None:
            _check_identifier(self.person.value, "user_id" if event.user_id else "email")
        self.anonymous_id = event.anonymous_id
        if self.anonymous_id and (problem := identifier_problem(self.anonymous_id, "anonymous_id")):
            if self.person is None:
                raise _Refusal(problem.code, problem.message, problem.field)
            # The person is known; an unusable anonymous id only costs the merge.
            self.warnings.append(f"anonymous_id_dropped:{problem.reason}")
            self.anonymous_id = None

    def require_person(self) -> Person:
        if self.person is None:
            kind = self.event.type
            raise _Refusal(
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
            text = compact_json_text(values)
            # Converting dates walks every value in Python, which costs more than encoding
            # in C. A date string shows in the JSON as a quote, four digits and `-`, so the
            # walk (and a second encoding) happens only when the encoding has one.
            if self.config.convert_timestamps and _MAY_HOLD_DATE(text):
                values = convert_iso_dates(values)
                text = compact_json_text(values)
            encoded = text.encode()
        except (ValueError, TypeError):  # NaN or Infinity (or, from Python, a set)
            raise _Refusal(
                "invalid_value",
                "event data holds NaN, Infinity or another value JSON cannot carry",
                "properties",
            ) from None
        if len(encoded) > MAX_DATA_BYTES:
            raise _Refusal(
                "payload_too_large",
                f"event data is {len(encoded)} bytes; Customer.io accepts at most {MAX_DATA_BYTES}",
                "properties",
            )
        return values, encoded

    def attributes(self, values: dict[str, Any], where: str) -> dict[str, Any]:
        """Person/object attributes: timestamps converted, oversized ones dropped."""
        if self.config.convert_timestamps:
            values = convert_iso_dates(values)
        kept: dict[str, Any] = {}
        for name, value in values.items():
            if len(name.encode()) > MAX_ATTRIBUTE_NAME_BYTES:
                self.warnings.append(f"attribute_dropped:{where}.{name[:40]}:name_over_150_bytes")
            elif problem := _value_problem(value):
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


def _check_identifier(value: str, field: str) -> None:
    if problem := identifier_problem(value, field):
        raise _Refusal(problem.code, problem.message, field)


def _value_problem(value: Any) -> str | None:
    """Why an attribute value cannot be sent, or None when it can."""
    if isinstance(value, str):
        size = len(value.encode())
    elif isinstance(value, float):
        # A float's JSON is a few bytes at most; only NaN and Infinity have none.
        return None if math.isfinite(value) else "not_json"
    elif isinstance(value, (dict, list)):
        try:
            size = len(compact_json(value))
        except (ValueError, TypeError):
            return "not_json"  # NaN or Infinity inside (or, from Python, a set)
    elif isinstance(value, int):  # bool too
        # Over 3322 bits is over 1000 digits (and past 4300, no JSON encoder writes it).
        return "value_over_1000_bytes" if value.bit_length() > 3322 else None
    else:
        return None if value is None else "not_json"  # from Python: bytes, sets, ...
    return "value_over_1000_bytes" if size > MAX_ATTRIBUTE_VALUE_BYTES else None


def consent_denied(context_consent: dict[str, Any], category: str) -> bool:
    """True when `context.consent` withholds `category` (SPEC section 3, Consent)."""
    if context_consent.get(category) is False:
        return True
    for key in ("categories", "canonical"):
        granted = context_consent.get(key)
        if isinstance(granted, list) and category not in granted:
            return True
    preferences = context_consent.get("categoryPreferences")
    if isinstance(preferences, dict):
        lowered = {str(k).lower(): v for k, v in preferences.items()}
        if lowered.get(category.lower()) is False:
            return True
    return False


def _identify(ctx: _Context, traits: dict[str, Any]) -> Operation:
    person = ctx.require_person()
    attributes = {k: v for k, v in traits.items() if k not in _IDENTITY_TRAITS}
    if person.key == "id":
        attributes.pop("id", None)  # the path names the person; an `id` trait would fight it
    if "email" in attributes and not isinstance(attributes["email"], str):
        del attributes["email"]  # Customer.io types email as a string; null would be refused
        ctx.warnings.append("attribute_dropped:traits.email:not_a_string")
    created = attributes.pop("createdAt", None)
    created = attributes.pop("created_at", created)
    attributes = ctx.attributes(attributes, "traits")
    if created is not None:
        created_at = to_unix_seconds(created)
        if created_at is None:
            ctx.warnings.append("created_at_invalid")
        else:
            attributes["created_at"] = created_at
    if ctx.anonymous_id:
        attributes["anonymous_id"] = ctx.anonymous_id
    return Operation(
        "identify",
        person=person,
        anonymous_id=ctx.anonymous_id,  # not rendered (it is in the attributes); orders sends
        attributes=attributes,
        timestamp=ctx.seconds,
    )


def _map_identify(ctx: _Context, event: IdentifyEvent) -> list[Operation]:
    return [_identify(ctx, {**event.context.traits, **event.traits})]


def _activity(ctx: _Context, action: str, name: str, data: dict[str, Any]) -> Operation:
    if ctx.person is None and not ctx.anonymous_id:
        raise _Refusal(
            "missing_identifier",
            f"{ctx.event.type} needs userId, an email, or anonymousId",
            "user_id",
        )
    attributes, data_json = ctx.data(data)
    return Operation(
        action,  # type: ignore[arg-type]
        person=ctx.person,
        anonymous_id=ctx.anonymous_id,
        name=name,
        attributes=attributes,
        timestamp=ctx.seconds,
        event_id=ctx.event_id,
        data_json=data_json,
    )


def _device_operation(ctx: _Context, required: bool, action: str) -> list[Operation]:
    device = device_of(ctx.event.context, ctx.seconds)
    if device is None:
        if required:
            raise _Refusal(
                "missing_device_token", "context.device.token is missing", "context.device.token"
            )
        return []
    if is_dot_segment(device.token):
        if required:
            _check_identifier(device.token, "context.device.token")
        ctx.warnings.append("device_skipped:invalid_token")
        return []
    if ctx.person is None:
        if required:
            ctx.require_person()
        ctx.warnings.append("device_skipped:anonymous")
        return []
    if action == "add_device" and device.platform is None:
        if required:
            raise _Refusal(
                "invalid_device_platform",
                "context.device.type must be ios or android",
                "context.device.type",
            )
        ctx.warnings.append("device_skipped:unknown_platform")
        return []
    return [Operation(action, person=ctx.person, device=device, helper=not required)]  # type: ignore[arg-type]


def _map_track(ctx: _Context, event: TrackEvent) -> list[Operation]:
    name = trimmed(event.event)
    if name is None:
        raise _Refusal("missing_event_name", "track event has no event name", "event")
    if name in PERSON_LIFECYCLE:
        return [Operation(PERSON_LIFECYCLE[name], person=ctx.require_person())]  # type: ignore[arg-type]
    if name == "Device Created or Updated":
        return _device_operation(ctx, required=True, action="add_device")
    if name in DEVICE_DELETE_EVENTS:
        operations = _device_operation(ctx, not DEVICE_DELETE_EVENTS[name], "delete_device")
        if not DEVICE_DELETE_EVENTS[name]:
            return operations
    elif name in DEVICE_EVENTS_WITH_TRACK:
        operations = _device_operation(ctx, required=False, action="add_device")
    else:
        operations = []
    if ctx.config.identify_on_track and event.context.traits and ctx.person is not None:
        operations.insert(0, _identify(ctx, dict(event.context.traits)))
    operations.append(_activity(ctx, "event", ctx.name(name), event.properties))
    return operations


def _map_page(ctx: _Context, event: PageEvent) -> list[Operation]:
    page = event.context.page
    url = trimmed(event.properties.get("url")) or trimmed(page.get("url"))
    title = trimmed(event.name) or trimmed(event.properties.get("name"))
    first, second = (title, url) if ctx.config.page_name == "name" else (url, title)
    full_name = first or second
    if full_name is None:
        raise _Refusal("missing_page_name", "page has no URL and no name", "properties.url")
    # The full URL is always in the data (it came from there), even when the name is cut.
    data = {key: page[key] for key in _PAGE_FIELDS if page.get(key) is not None}
    data.update(event.properties)
    return [_activity(ctx, "page", ctx.name(full_name), data)]


def _map_screen(ctx: _Context, event: ScreenEvent) -> list[Operation]:
    name = trimmed(event.name) or trimmed(event.properties.get("name"))
    if name is None:
        raise _Refusal("missing_event_name", "screen has no name", "name")
    return [_activity(ctx, "screen", ctx.name(name), event.properties)]


def _map_group(ctx: _Context, event: GroupEvent) -> list[Operation]:
    person = ctx.require_person()
    if not event.group_id:
        raise _Refusal("missing_group_id", "group event has no groupId", "group_id")
    _check_identifier(event.group_id, "group_id")
    traits = dict(event.traits)
    type_id = traits.pop("object_type_id", None) or traits.pop("objectTypeId", None)
    return [
        Operation(
            "object_identify",
            person=person,
            attributes=ctx.attributes(traits, "traits"),
            object_type_id=str(type_id or ctx.config.default_object_type_id),
            object_id=event.group_id,
            timestamp=ctx.seconds,
        )
    ]


def _map_alias(ctx: _Context, event: AliasEvent) -> list[Operation]:
    if not event.user_id:
        raise _Refusal("missing_identifier", "alias needs userId (the person kept)", "user_id")
    if not event.previous_id:
        raise _Refusal(
            "missing_identifier", "alias needs previousId (the person merged)", "previous_id"
        )
    _check_identifier(event.previous_id, "previous_id")
    return [Operation("merge", person=Person(event.user_id), secondary=Person(event.previous_id))]


_MAPPERS: dict[str, Callable[[_Context, Any], list[Operation]]] = {
    "identify": _map_identify,
    "track": _map_track,
    "page": _map_page,
    "screen": _map_screen,
    "group": _map_group,
    "alias": _map_alias,
}


def map_event(raw: Any, config: CustomerIoConfig) -> Mapped | Refused:
    """Any decoded JSON (or JSON text, or a parsed event) -> operations, or why not."""
    event = parse_event(raw)
    if isinstance(event, InvalidEvent):
        return Refused("rejected", event.code, event.message, event.field, event.message_id)
    consent = event.context.consent
    if config.respect_consent and consent and consent_denied(consent, config.consent_category):
        return Refused(
            "filtered",
            "consent_denied",
            f"the person has not consented to {config.consent_category!r}",
            "context.consent",
            event.message_id,
        )
    ctx: _Context | None = None
    try:
        ctx = _Context(event, config)
        operations = _MAPPERS[event.type](ctx, event)
    except _Refusal as refusal:
        warnings = tuple(ctx.warnings) if ctx else ()
        return Refused(
            "rejected", refusal.code, refusal.message, refusal.field, event.message_id, warnings
        )
    except RecursionError:  # nesting the encoding check passed, but a deeper walk did not
        message = "the event is nested too deeply to map"
        return Refused("rejected", "invalid_value", message, None, event.message_id)
    return Mapped(event.message_id, tuple(operations), tuple(ctx.warnings))
