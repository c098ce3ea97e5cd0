"""Objects and relationships (SPEC 3.1): group, an identify's relationship, Object Deleted,
Relationship Deleted, and the 32 KB limit on what can only travel as a v2 item.

Pure, like the rest of the mapper. Objects have no v1 form: these operations are v2
items in both api modes (`/api/v2/entity` in v1 mode), so one over 32 KB has nowhere
to go and is refused here, before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .events import GroupEvent
from .mapping_context import MappingContext, Refusal, check_identifier
from .operations import Operation
from .render import MAX_ITEM_BYTES, only_as_v2_item, v2_item_bytes
from .text import identifier_problem

# Keys naming the object and the relationship, camelCase first; never attributes.
OBJECT_ID_KEYS = ("objectId", "object_id")
OBJECT_TYPE_KEYS = ("objectTypeId", "object_type_id")
RELATIONSHIP_KEYS = ("relationshipAttributes", "relationship_attributes")


def identifier_text(value: Any, field: str) -> str | None:
    """An id given as a string (trimmed) or a number (as text); None when absent or blank.

    Anything else (an object, a list, a boolean) cannot name anything: refused.
    """
    if isinstance(value, str):
        return value.strip() or None
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    raise Refusal("invalid_identifier", f"{field} must be a string or a number", field)


def _first(source: dict[str, Any], keys: Iterable[str], where: str) -> str | None:
    for key in keys:
        text = identifier_text(source.get(key), f"{where}.{key}")
        if text is not None:
            return text
    return None


def _type_id(ctx: MappingContext, source: dict[str, Any], where: str) -> str:
    type_id = _first(source, OBJECT_TYPE_KEYS, where) or ctx.config.default_object_type_id
    check_identifier(type_id, f"{where}.objectTypeId")
    return type_id


def _relationship_attributes(
    ctx: MappingContext, values: dict[str, Any], where: str
) -> dict[str, Any] | None:
    """`relationshipAttributes` (or the snake_case key), popped from `values`, checked as
    attributes are (dates converted, oversized ones dropped with a warning)."""
    given = [values.pop(key) for key in RELATIONSHIP_KEYS if key in values]
    found = next((value for value in given if value is not None), None)
    if found is None:
        return None
    if not isinstance(found, dict):
        ctx.warnings.append(f"attribute_dropped:{where}.relationshipAttributes:not_an_object")
        return None
    return ctx.attributes(found, f"{where}.relationshipAttributes") or None


def map_group(ctx: MappingContext, event: GroupEvent) -> list[Operation]:
    """The object, identified with the group's traits, related to the person (or the
    anonymous id when there is no person)."""
    if ctx.person is None and not ctx.anonymous_id:
        raise Refusal(
            "missing_identifier",
            "group needs userId, an email in context.traits or properties, or anonymousId",
            "user_id",
        )
    if not event.group_id:
        raise Refusal("missing_group_id", "group event has no groupId", "group_id")
    check_identifier(event.group_id, "group_id")
    traits = dict(event.traits)
    type_id = _type_id(ctx, traits, "traits")
    for key in OBJECT_TYPE_KEYS:
        traits.pop(key, None)
    relationship = _relationship_attributes(ctx, traits, "traits")
    attributes = ctx.attributes(traits, "traits")
    return [
        Operation(
            "object_identify" if ctx.person is not None else "object_identify_anonymous",
            person=ctx.person,
            anonymous_id=None if ctx.person is not None else ctx.anonymous_id,
            attributes=attributes,
            object_type_id=type_id,
            object_id=event.group_id,
            relationship_attributes=relationship,
            timestamp=ctx.seconds,
        )
    ]


def identify_relationship(
    ctx: MappingContext, traits: dict[str, Any]
) -> tuple[str, str, dict[str, Any] | None] | None:
    """(object_type_id, object_id, relationship attributes) an identify's traits relate the
    person to, or None; the keys that say so are popped from `traits` (never attributes).

    An unusable objectId costs the relationship, not the identify: a warning.
    """
    present = {key: traits.pop(key) for key in OBJECT_ID_KEYS + OBJECT_TYPE_KEYS if key in traits}
    relationship = _relationship_attributes(ctx, traits, "traits")
    if not present:  # most identifies: no object named, nothing to look up
        if relationship is not None:
            ctx.warnings.append("relationship_dropped:missing_object_id")
        return None
    try:
        object_id = _first(present, OBJECT_ID_KEYS, "traits")
        if object_id is None:
            if relationship is not None or any(k in present for k in OBJECT_TYPE_KEYS):
                ctx.warnings.append("relationship_dropped:missing_object_id")
            return None
        if problem := identifier_problem(object_id, "traits.objectId"):
            ctx.warnings.append(f"relationship_dropped:{problem.reason}")
            return None
        type_id = _type_id(ctx, present, "traits")
    except Refusal as refusal:
        ctx.warnings.append(f"relationship_dropped:{refusal.code}")
        return None
    return type_id, object_id, relationship


def _object_in_properties(
    ctx: MappingContext, keys: tuple[str, ...], event_name: str
) -> tuple[str, str]:
    properties = ctx.event.properties
    object_id = _first(properties, keys, "properties")
    if object_id is None:
        names = " or ".join(f"properties.{key}" for key in keys[::2])  # the camelCase ones
        message = f"{event_name} needs the object: set {names}"
        raise Refusal("missing_object_id", message, "properties.objectId")
    check_identifier(object_id, "properties.objectId")
    return _type_id(ctx, properties, "properties"), object_id


def map_object_deleted(ctx: MappingContext) -> list[Operation]:
    keys = ("objectId", "object_id", "groupId", "group_id")
    type_id, object_id = _object_in_properties(ctx, keys, "Object Deleted")
    return [Operation("object_delete", object_type_id=type_id, object_id=object_id)]


def map_relationship_deleted(ctx: MappingContext) -> list[Operation]:
    person = ctx.require_person()
    type_id, object_id = _object_in_properties(ctx, OBJECT_ID_KEYS, "Relationship Deleted")
    return [
        Operation(
            "delete_relationships", person=person, object_type_id=type_id, object_id=object_id
        )
    ]


def check_item_sizes(operations: Iterable[Operation]) -> None:
    """Refuse what can only travel as a v2 item when it is over Customer.io's 32 KB."""
    for op in operations:
        if only_as_v2_item(op) and (size := v2_item_bytes(op)) > MAX_ITEM_BYTES:
            field = "properties" if op.action == "delete_relationships" else "traits"
            raise Refusal(
                "payload_too_large",
                f"the {op.action} item is {size} bytes; Customer.io takes at most "
                f"{MAX_ITEM_BYTES} bytes (32 KB) in one v2 item, and it has no other way in",
                field,
            )
