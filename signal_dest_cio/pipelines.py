"""Pure: canonical events -> Data Pipelines API calls (SPEC 8), Segment-spec bodies.

Every rule of sections 3 and 3.1 that decides whether an event can be sent at all
(identifiers, consent, text, lengths) is the Track mapper's: `map_parsed` is run
first and its refusal is this mode's refusal. What is sent is the event itself,
Segment-shaped: `type`, `userId` (the resolved person) and/or `anonymousId`,
`messageId`, `timestamp` (ISO-8601 UTC), `context`, and per type `traits`,
`event` + `properties`, `name` + `properties`, `groupId` + `traits`, or `previousId`.
Semantic events (User Deleted, Device Created or Updated, Object Deleted, Report
Delivery Event, ...) pass through as `track`; Customer.io acts on their names.

Each call is an `Operation(action="pipelines", name=<type>, attributes=<body>)`,
its person and anonymous id set so that lanes (SPEC 4.1) work as in the Track modes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .config import CustomerIoConfig
from .events import Event, InvalidEvent, TrackEvent, parse_event
from .identity import Person
from .mapping import map_parsed, product_traits
from .mapping_context import value_problem
from .operations import Mapped, Operation, Refused, compact_json
from .timestamps import to_epoch_ms

MAX_CALL_BYTES = 32 * 1024


def map_pipelines(raw: Any, config: CustomerIoConfig) -> Mapped | Refused:
    event = parse_event(raw)
    if isinstance(event, InvalidEvent):
        return Refused("rejected", event.code, event.message, event.field, event.message_id)
    # The Track mapper decides who, when and whether; its values are not sent here, so
    # their dates are left unconverted. Converting only shortens a value's JSON, so a
    # refusal without it may not be one with it: then the mapping is made in full.
    checked = map_parsed(event, config, checking=True)
    if isinstance(checked, Refused):
        checked = map_parsed(event, config)
        if isinstance(checked, Refused):
            return checked
    person, anonymous, when, dedup = _decided(checked.operations)
    if person is None and anonymous is None and event.type != "alias":
        # (a delivery metric names no person in the Track API; every Pipelines call must)
        return Refused(
            "rejected",
            "missing_identifier",
            "a Data Pipelines call needs a userId or an anonymousId",
            "userId",
            event.message_id,
            checked.warnings,
        )
    common = _common(event, person, anonymous, when, event.message_id or dedup)
    calls: list[Operation] = []
    warnings = list(checked.warnings)
    try:
        if isinstance(event, TrackEvent) and person is not None:
            traits = product_traits(event, config)
            if traits is not None:
                traits = _typed(traits, _TYPED_TRAITS, "traits", warnings)
                identify = {**common, "type": "identify", "traits": traits}
                if "messageId" in common:  # its own id: the track keeps the event's
                    identify["messageId"] = f"{common['messageId']}:identify"
                calls.append(_call("identify", identify, person, anonymous, warnings))
        secondary = next((op.secondary for op in checked.operations if op.secondary), None)
        body = {**common, **_specific(event, checked, warnings)}
        calls.append(_call(event.type, body, person, anonymous, warnings, secondary))
    except (ValueError, TypeError):  # beyond the traits (the context): from Python only
        return Refused(
            "rejected",
            "invalid_value",
            "a Data Pipelines call would hold NaN, Infinity or another value JSON cannot carry",
            None,
            event.message_id,
            tuple(warnings),
        )
    calls += [op for op in checked.operations if op.action == "send_email"]
    for call in calls:
        if call.action == "pipelines" and len(call.data_json or b"") > MAX_CALL_BYTES:
            return Refused(
                "rejected",
                "payload_too_large",
                f"a Data Pipelines call is at most {MAX_CALL_BYTES} bytes",
                None,
                event.message_id,
                tuple(warnings),
            )
    return Mapped(event.message_id, tuple(calls), tuple(warnings))


def _decided(
    operations: tuple[Operation, ...],
) -> tuple[Person | None, str | None, int | None, str | None]:
    """The first person, anonymous id, time and dedup id the operations name (one pass:
    every event goes through here)."""
    person: Person | None = None
    anonymous: str | None = None
    when: int | None = None
    dedup: str | None = None
    for op in operations:
        if person is None:
            person = op.person
        if anonymous is None and op.anonymous_id:
            anonymous = op.anonymous_id
        if when is None:
            when = op.timestamp
        if dedup is None and op.event_id:
            dedup = op.event_id
    return person, anonymous, when, dedup


def _call(
    kind: str,
    body: dict[str, Any],
    person: Person | None,
    anonymous: str | None,
    warnings: list[str],
    secondary: Person | None = None,
) -> Operation:
    """The call, its body encoded once (measured here, sent as it is). A trait JSON cannot
    carry (NaN or Infinity inside it, given from Python) is left out, with the warning the
    Track modes give it; any other such value raises ValueError or TypeError."""
    try:
        data_json = compact_json(body)
    except (ValueError, TypeError):
        traits = body.get("traits")
        if not isinstance(traits, dict):
            raise
        body = {**body, "traits": _encodable(traits, warnings)}
        data_json = compact_json(body)
    return Operation(
        "pipelines",
        person=person,
        anonymous_id=anonymous,
        name=kind,
        attributes=body,
        secondary=secondary,
        data_json=data_json,
    )


def _encodable(traits: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    """`traits` without those JSON cannot carry, as `MappingContext.attributes` drops them."""
    kept: dict[str, Any] = {}
    for name, value in traits.items():
        if value_problem(value) != "not_json":
            kept[name] = value
        elif (warning := f"attribute_dropped:traits.{name}:not_json") not in warnings:
            warnings.append(warning)
    return kept


def _common(
    event: Event,
    person: Person | None,
    anonymous: str | None,
    when: int | None,
    message_id: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if person is not None:
        body["userId"] = person.value
    if anonymous:
        body["anonymousId"] = anonymous
    if message_id:
        body["messageId"] = message_id
    if when is not None:
        body["timestamp"] = _iso(when)
    context = _context_of(event)
    if context:
        body["context"] = context
    return body


def _context_of(event: Event) -> dict[str, Any]:
    """`event.context.model_dump(exclude_defaults=True)` at a third of its cost: the fields
    given (not None, not empty), then the other keys as they came. The values are the
    event's own (it is frozen; the call's body is only encoded and shown)."""
    context = event.context
    values = {
        key: value for key, value in context.__dict__.items() if value is not None and value != {}
    }
    values.update(context.__pydantic_extra__ or {})
    return values


# What the Pipelines API types among the free-form traits and page properties (its
# OpenAPI file): a value of another type is refused there, so it is left out (null is
# absent anyway), with a warning; a createdAt given as an epoch number is sent as the
# ISO-8601 text it stands for.
_TYPED_TRAITS: dict[str, type] = {
    "email": str, "createdAt": str, "cio_subscription_preferences": dict, "unsubscribed": bool,
}  # fmt: skip
_TYPE_NAMES = {str: "string", bool: "boolean", dict: "object"}
_TYPED_PAGE_PROPERTIES: dict[str, type] = dict.fromkeys(
    ("category", "url", "title", "referrer", "path", "search"), str
)


def _typed(
    values: dict[str, Any], types: dict[str, type], where: str, warnings: list[str]
) -> dict[str, Any]:
    """`values` with every typed key of another type left out (or, createdAt, written as
    ISO-8601 text); the same dict when nothing needs that."""
    unfit = [
        key for key, kind in types.items() if key in values and not isinstance(values[key], kind)
    ]
    if not unfit:
        return values
    fitted = dict(values)
    for key in unfit:
        value = fitted.pop(key)
        if key == "createdAt" and (when := to_epoch_ms(value)) is not None:
            fitted[key] = _iso(when / 1000)
        elif value is not None:
            warning = f"attribute_dropped:{where}.{key}:not_a_{_TYPE_NAMES[types[key]]}"
            if warning not in warnings:  # (the Track mapper's own check may have said it)
                warnings.append(warning)
    return fitted


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _specific(event: Event, checked: Mapped, warnings: list[str]) -> dict[str, Any]:
    kind = event.type
    if kind == "identify":
        traits = {**event.context.traits, **event.traits}
        return {"type": "identify", "traits": _typed(traits, _TYPED_TRAITS, "traits", warnings)}
    if kind == "track":
        assert isinstance(event, TrackEvent)
        name = next((op.name for op in checked.operations if op.action == "event"), None)
        return {"type": "track", "event": name or (event.event or "").strip(),
                "properties": event.properties}  # fmt: skip
    if kind in ("page", "screen"):
        name = getattr(event, "name", None)
        properties = event.properties
        if kind == "page":
            properties = _typed(properties, _TYPED_PAGE_PROPERTIES, "properties", warnings)
        body: dict[str, Any] = {"type": kind, "properties": properties}
        if isinstance(name, str) and name.strip():
            body["name"] = name.strip()
        return body
    if kind == "group":
        return {"type": "group", "groupId": str(getattr(event, "group_id", "")),
                "traits": event.traits}  # fmt: skip
    return {"type": "alias", "previousId": str(getattr(event, "previous_id", ""))}
