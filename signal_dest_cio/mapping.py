"""Pure: a canonical event -> the Customer.io operations it becomes (SPEC section 3).

No I/O here. Problems come back as `Refused` (filtered or rejected), never as
exceptions; adjustments (truncated names, dropped attributes, bad timestamps)
come back as warnings on `Mapped`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .config import CustomerIoConfig
from .devices import device_of
from .events import (
    AliasEvent,
    Event,
    IdentifyEvent,
    InvalidEvent,
    PageEvent,
    ScreenEvent,
    TrackEvent,
    parse_event,
)
from .identity import Person
from .mapping_context import MappingContext, Refusal, check_identifier
from .metrics import map_delivery_metric
from .objects import (
    check_item_sizes,
    identify_relationship,
    map_group,
    map_object_deleted,
    map_relationship_deleted,
)
from .operations import Mapped, Operation, Refused
from .text import is_dot_segment, trimmed
from .timestamps import to_unix_seconds

DEVICE_EVENTS_WITH_TRACK = {"Application Installed", "Application Opened"}
DEVICE_DELETE_EVENTS = {"Application Uninstalled": True, "Device Deleted": False}
PERSON_LIFECYCLE = {
    "User Deleted": "delete",
    "User Suppressed": "suppress",
    "User Unsuppressed": "unsuppress",
}
# Track events that are a request of their own (objects, relationships, metrics).
SEMANTIC_TRACKS: dict[str, Callable[[MappingContext], list[Operation]]] = {
    "Object Deleted": map_object_deleted,
    "Relationship Deleted": map_relationship_deleted,
    "Report Delivery Event": map_delivery_metric,
}
_IDENTITY_TRAITS = {"userId", "user_id", "anonymousId", "anonymous_id"}
_PAGE_FIELDS = ("url", "path", "referrer", "search", "title")
_SCALARS = (str, int, float, bool)


def consent_denied(context_consent: dict[str, Any], category: str) -> bool:
    """True when `context.consent` withholds `category` (SPEC section 3, Consent).

    Categories match case-insensitively in every form: `{"Marketing": false}`,
    `categories: ["Marketing"]`, Segment's `categoryPreferences`.
    """
    wanted = category.lower()
    for key, value in context_consent.items():
        if value is False and isinstance(key, str) and key.lower() == wanted:
            return True
    for key in ("categories", "canonical"):
        granted = context_consent.get(key)
        if isinstance(granted, list):
            names = {item.lower() for item in granted if isinstance(item, str)}
            if wanted not in names:
                return True
    preferences = context_consent.get("categoryPreferences")
    if isinstance(preferences, dict):
        for key, value in preferences.items():
            if value is False and isinstance(key, str) and key.lower() == wanted:
                return True
    return False


def _identify(ctx: MappingContext, traits: dict[str, Any]) -> Operation:
    person = ctx.require_person()
    attributes = {k: v for k, v in traits.items() if k not in _IDENTITY_TRAITS}
    relationship = identify_relationship(ctx, attributes)  # its keys leave the attributes
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
    type_id, object_id, relationship_attributes = relationship or (None, None, None)
    return Operation(
        "identify",
        person=person,
        anonymous_id=ctx.anonymous_id,  # not rendered (it is in the attributes); orders sends
        attributes=attributes,
        timestamp=ctx.seconds,
        object_type_id=type_id,
        object_id=object_id,
        relationship_attributes=relationship_attributes,
    )


def _map_identify(ctx: MappingContext, event: IdentifyEvent) -> list[Operation]:
    return [_identify(ctx, {**event.context.traits, **event.traits})]


def _activity(ctx: MappingContext, action: str, name: str, data: dict[str, Any]) -> Operation:
    if ctx.person is None and not ctx.anonymous_id:
        raise Refusal(
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


def _device_attributes(ctx: MappingContext) -> dict[str, Any]:
    """The event's scalar properties, as device attributes (SPEC 3.1, devices)."""
    scalars = {k: v for k, v in ctx.event.properties.items() if isinstance(v, _SCALARS)}
    return ctx.attributes(scalars, "device.attributes") if scalars else {}


def _device_operation(ctx: MappingContext, required: bool, action: str) -> list[Operation]:
    device = device_of(ctx.event.context, ctx.seconds)
    if device is None:
        if required:
            raise Refusal(
                "missing_device_token", "context.device.token is missing", "context.device.token"
            )
        return []
    if is_dot_segment(device.token):
        if required:
            check_identifier(device.token, "context.device.token")
        ctx.warnings.append("device_skipped:invalid_token")
        return []
    if ctx.person is None:
        if required:
            ctx.require_person()
        ctx.warnings.append("device_skipped:anonymous")
        return []
    if action == "add_device":
        if device.platform is None:
            if required:
                raise Refusal(
                    "invalid_device_platform",
                    "context.device.type (else context.os.name) must be ios, ipados or android",
                    "context.device.type",
                )
            ctx.warnings.append("device_skipped:unknown_platform")
            return []
        device = device_of(ctx.event.context, ctx.seconds, _device_attributes(ctx)) or device
    # Without the event (Device Created or Updated, Device Deleted) the device request is
    # the event's point; beside it (Application Installed/Opened) it only prepares it.
    return [Operation(action, person=ctx.person, device=device, helper=not required)]  # type: ignore[arg-type]


def _map_track(ctx: MappingContext, event: TrackEvent) -> list[Operation]:
    name = trimmed(event.event)
    if name is None:
        raise Refusal("missing_event_name", "track event has no event name", "event")
    if name in SEMANTIC_TRACKS:
        return SEMANTIC_TRACKS[name](ctx)
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
    traits = product_traits(event, ctx.config)
    if traits is not None and ctx.person is not None:
        operations.insert(0, _identify(ctx, traits))
    operations.append(_activity(ctx, "event", ctx.name(name), event.properties))
    trigger = ctx.config.transactional.get(name)
    if trigger is not None:
        send = transactional_send(ctx, event, trigger.message_id)
        if send is not None:
            operations.append(send)
    return operations


def transactional_send(
    ctx: MappingContext, event: TrackEvent, message_id: int | str
) -> Operation | None:
    """The send a track event named in the `transactional` map triggers (SPEC 10): to its
    person, its properties as `message_data`; without a person or an address, a warning."""
    person = ctx.person
    if person is None:
        ctx.warnings.append("transactional_skipped:anonymous")
        return None
    to = next(
        (
            value.strip()
            for source in (event.traits, event.context.traits, event.properties)
            if isinstance(value := source.get("email"), str) and value.strip()
        ),
        person.value if person.key == "email" else None,
    )
    if to is None:
        ctx.warnings.append("transactional_skipped:no_email")
        return None
    body = {
        "transactional_message_id": message_id,
        "to": to,
        "identifiers": person.identifiers,
        "message_data": dict(event.properties),
    }
    return Operation("send_email", person=person, attributes=body)


# Keys of a product event's properties that identify, never describe, the person.
IDENTIFIER_KEYS = frozenset({"userId", "user_id", "anonymousId", "anonymous_id", "id", "cio_id"})


def product_traits(event: TrackEvent, config: CustomerIoConfig) -> dict[str, Any] | None:
    """The traits of the identify a track event is preceded by (SPEC 3 and 8), or None.

    With `identify_on_track`: `context.traits`; with `traits_from_properties` also the
    event's properties other than identifiers (the Meshes way: one product event such
    as `user.signup` identifies the person and tracks the event), in every api mode.
    """
    if not config.identify_on_track:
        return None
    traits = dict(event.context.traits)
    if config.traits_from_properties:
        traits.update({k: v for k, v in event.properties.items() if k not in IDENTIFIER_KEYS})
    return traits or None


def _map_page(ctx: MappingContext, event: PageEvent) -> list[Operation]:
    page = event.context.page
    url = trimmed(event.properties.get("url")) or trimmed(page.get("url"))
    title = trimmed(event.name) or trimmed(event.properties.get("name"))
    first, second = (title, url) if ctx.config.page_name == "name" else (url, title)
    full_name = first or second
    if full_name is None:
        raise Refusal("missing_page_name", "page has no URL and no name", "properties.url")
    # The full URL is always in the data (it came from there), even when the name is cut.
    data = {key: page[key] for key in _PAGE_FIELDS if page.get(key) is not None}
    data.update(event.properties)
    return [_activity(ctx, "page", ctx.name(full_name), data)]


def _map_screen(ctx: MappingContext, event: ScreenEvent) -> list[Operation]:
    name = trimmed(event.name) or trimmed(event.properties.get("name"))
    if name is None:
        raise Refusal("missing_event_name", "screen has no name", "name")
    return [_activity(ctx, "screen", ctx.name(name), event.properties)]


def _map_alias(ctx: MappingContext, event: AliasEvent) -> list[Operation]:
    if not event.user_id:
        raise Refusal("missing_identifier", "alias needs userId (the person kept)", "user_id")
    if not event.previous_id:
        raise Refusal(
            "missing_identifier", "alias needs previousId (the person merged)", "previous_id"
        )
    check_identifier(event.previous_id, "previous_id")
    return [Operation("merge", person=Person(event.user_id), secondary=Person(event.previous_id))]


_MAPPERS: dict[str, Callable[[MappingContext, Any], list[Operation]]] = {
    "identify": _map_identify,
    "track": _map_track,
    "page": _map_page,
    "screen": _map_screen,
    "group": map_group,
    "alias": _map_alias,
}


def map_event(raw: Any, config: CustomerIoConfig) -> Mapped | Refused:
    """Any decoded JSON (or JSON text, or a parsed event) -> operations, or why not."""
    event = parse_event(raw)
    if isinstance(event, InvalidEvent):
        return Refused("rejected", event.code, event.message, event.field, event.message_id)
    return map_parsed(event, config)


def map_parsed(
    event: Event, config: CustomerIoConfig, *, checking: bool = False
) -> Mapped | Refused:
    """`map_event` of an event `parse_event` returned (its text already checked).

    `checking`: the operations are wanted only for what they decide (who, when, whether),
    not to be sent, so their values keep their dates as given (`MappingContext`)."""
    consent = event.context.consent
    if config.respect_consent and consent and consent_denied(consent, config.consent_category):
        return Refused(
            "filtered",
            "consent_denied",
            f"the person has not consented to {config.consent_category!r}",
            "context.consent",
            event.message_id,
        )
    ctx: MappingContext | None = None
    try:
        ctx = MappingContext(event, config, checking=checking)
        operations = _MAPPERS[event.type](ctx, event)
        check_item_sizes(operations)
    except Refusal as refusal:
        warnings = tuple(ctx.warnings) if ctx else ()
        return Refused(
            "rejected", refusal.code, refusal.message, refusal.field, event.message_id, warnings
        )
    except RecursionError:  # nesting the encoding check passed, but a deeper walk did not
        message = "the event is nested too deeply to map"
        return Refused("rejected", "invalid_value", message, None, event.message_id)
    return Mapped(event.message_id, tuple(operations), tuple(ctx.warnings))
