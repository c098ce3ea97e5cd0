"""A rule's actions (SPEC 12): checked and compiled when the config is saved, and turned
into the same operations the built-in mapper makes (operations.py) when an event matches.

Each action resolves its fields (fields.py says what each may hold and its default),
then builds operations with the mapper's own checks (`MappingContext`: attribute
limits, event data size, names cut at 100 bytes, identifiers). A field that resolves
to something unfit raises `ActionError` naming it; the engine rejects that action.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..config import CustomerIoConfig
from ..dedup import dedup_id
from ..events import Event
from ..identity import Person
from ..mapping_context import MappingContext, Refusal
from ..objects import check_item_sizes
from ..operations import Operation
from .casts import FieldError
from .directives import DirectiveError, Notes, Resolver, compile_value
from .fields import ACTION_FIELDS, FieldDef
from .paths import MISSING


class ActionError(ValueError):
    """An action that cannot be sent for this event: which field, and why."""

    def __init__(self, field: str | None, message: str, code: str = "mapping_error") -> None:
        super().__init__(message)
        self.field, self.message, self.code = field, message, code


class SpecError(ValueError):
    """An action spec that cannot be saved; `where` is its place inside the action."""

    def __init__(self, message: str, where: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.message, self.where = message, where


class RuleContext(MappingContext):
    """The mapper's context for rules: the event's time and warnings, and its checks;
    no person resolved up front (each action names its own)."""

    def __init__(self, event: Event, config: CustomerIoConfig) -> None:
        self.time_ms = self._begin(event, config)
        self.person = None
        self.anonymous_id = event.anonymous_id

    def action_id(self, rule_id: str, index: int) -> str:
        """The dedup id of one action's event: from messageId, rule id and action index,
        so two actions of one event never share one, and a retry gets the same."""
        message_id = self.event.message_id
        key = f"{message_id}\x1f{rule_id}\x1f{index}" if message_id else None
        return dedup_id(key, self.time_ms)


Fields = dict[str, Any]
Builder = Callable[[Fields, RuleContext, str], list[Operation]]


@dataclass(frozen=True, slots=True)
class CompiledAction:
    action: str
    resolvers: tuple[tuple[str, FieldDef, Resolver], ...]

    def resolve(self, view: dict[str, Any], notes: Notes | None = None) -> Fields:
        fields: Fields = {}
        for name, definition, resolver in self.resolvers:
            if notes is not None:
                notes.field = name
            try:
                value = resolver(view, notes)
                if value is MISSING or value is None:
                    if definition.required:
                        raise FieldError("resolved to nothing (it is required)")
                    continue
                fields[name] = definition.check(value)
            except FieldError as error:
                raise ActionError(name, f"field {name} {error}") from None
        return fields

    def operations(self, fields: Fields, ctx: RuleContext, event_id: str) -> list[Operation]:
        try:
            operations = _BUILDERS[self.action](fields, ctx, event_id)
            check_item_sizes(operations)
        except Refusal as refusal:
            raise ActionError(refusal.field, refusal.message, refusal.code) from None
        return operations


def compile_action(raw: Any, where: tuple[str | int, ...]) -> CompiledAction:
    if not isinstance(raw, dict):
        raise SpecError("an action must be an object {action, fields}", where)
    unknown = set(raw) - {"action", "fields"}
    if unknown:
        raise SpecError(f"unknown key {sorted(unknown)[0]!r} in an action", where)
    name = raw.get("action")
    if name not in ACTION_FIELDS:
        known = ", ".join(ACTION_FIELDS)
        raise SpecError(f"unknown action {name!r}; actions are {known}", (*where, "action"))
    given = raw.get("fields", {})
    if not isinstance(given, dict):
        raise SpecError("fields must be an object", (*where, "fields"))
    definitions = ACTION_FIELDS[name]
    for field in given:
        if field not in definitions:
            known = ", ".join(definitions) or "none"
            raise SpecError(f"{name} has no field {field!r} (fields: {known})",
                            (*where, "fields", field))  # fmt: skip
    resolvers = []
    for field, definition in definitions.items():
        place = (*where, "fields", field)
        if field in given:
            spec = given[field]
        elif definition.required:
            raise SpecError(f"{name} needs the field {field}", place)
        elif definition.default is None:
            continue
        else:
            spec = definition.default
        try:
            resolver = compile_value(spec, place)
        except DirectiveError as error:
            raise SpecError(f"field {field}: {error.message}", error.where) from None
        _check_literal(resolver, definition, field, place)
        resolvers.append((field, definition, resolver))
    return CompiledAction(name, tuple(resolvers))


def _check_literal(
    resolver: Resolver, definition: FieldDef, field: str, place: tuple[str | int, ...]
) -> None:
    """A literal is checked now, as its event would check it: never a rule that always fails."""
    from .directives import _Constant

    if isinstance(resolver, _Constant) and resolver.value is not None:
        try:
            definition.check(resolver.value)
        except FieldError as error:
            raise SpecError(f"field {field} {error}", place) from None


# -- the operations each action makes ---------------------------------------------------


def _person(fields: Fields, key: str = "id") -> Person | None:
    value = fields.get(key)
    return None if value is None else Person(value)


def _identify_person(fields: Fields, ctx: RuleContext, event_id: str) -> list[Operation]:
    person = _person(fields)
    if person is None:
        raise ActionError("id", "field id resolved to nothing: identify_person needs a person")
    attributes = dict(fields.get("attributes", {}))
    if person.key == "id":
        attributes.pop("id", None)  # the path names the person (as the built-in mapper)
    attributes = ctx.attributes(attributes, "attributes")
    if "created_at" in fields:
        attributes["created_at"] = fields["created_at"]
    anonymous_id = fields.get("anonymous_id")
    if anonymous_id:
        attributes["anonymous_id"] = anonymous_id
    return [
        Operation(
            "identify",
            person=person,
            anonymous_id=anonymous_id,
            attributes=attributes,
            timestamp=fields.get("timestamp", ctx.seconds),
        )
    ]


def _activity(action: str) -> Builder:
    def build(fields: Fields, ctx: RuleContext, event_id: str) -> list[Operation]:
        person = _person(fields)
        anonymous_id = fields.get("anonymous_id")
        if person is None and not anonymous_id:
            raise ActionError("id", f"field id resolved to nothing: a {action} needs a person "
                              "(id) or an anonymous_id")  # fmt: skip
        if "name" not in fields:
            raise ActionError("name", f"field name resolved to nothing: a {action} needs one")
        attributes, data_json = ctx.data(fields.get("data", {}))
        return [
            Operation(
                action,  # type: ignore[arg-type]
                person=person,
                anonymous_id=anonymous_id,
                name=ctx.name(fields["name"]),
                attributes=attributes,
                timestamp=fields.get("timestamp", ctx.seconds),
                event_id=event_id,
                data_json=data_json,
            )
        ]

    return build


def _identify_object(fields: Fields, ctx: RuleContext, event_id: str) -> list[Operation]:
    if "object_id" not in fields:
        raise ActionError("object_id", "field object_id resolved to nothing")
    person = _person(fields)
    anonymous_id = None if person is not None else fields.get("anonymous_id")
    if person is None and not anonymous_id:
        raise ActionError("id", "field id resolved to nothing: identify_object relates the "
                          "object to a person (id) or an anonymous_id")  # fmt: skip
    relationship = fields.get("relationship_attributes")
    return [
        Operation(
            "object_identify" if person is not None else "object_identify_anonymous",
            person=person,
            anonymous_id=anonymous_id,
            attributes=ctx.attributes(fields.get("attributes", {}), "attributes"),
            object_type_id=fields.get("object_type_id", ctx.config.default_object_type_id),
            object_id=fields["object_id"],
            relationship_attributes=ctx.attributes(relationship, "relationship_attributes")
            if relationship
            else None,
            timestamp=ctx.seconds,
        )
    ]


def _merge_people(fields: Fields, ctx: RuleContext, event_id: str) -> list[Operation]:
    for key in ("primary", "secondary"):
        if key not in fields:
            raise ActionError(key, f"field {key} resolved to nothing: a merge needs both people")
    return [Operation("merge", person=_person(fields, "primary"),
                      secondary=_person(fields, "secondary"))]  # fmt: skip


def _delete_person(fields: Fields, ctx: RuleContext, event_id: str) -> list[Operation]:
    person = _person(fields)
    if person is None:
        raise ActionError("id", "field id resolved to nothing: delete_person needs a person")
    return [Operation("delete", person=person)]


def _send_email(fields: Fields, ctx: RuleContext, event_id: str) -> list[Operation]:
    person = _person(fields)
    if person is None:
        raise ActionError("id", "field id resolved to nothing: a send is for a person")
    to = fields.get("to", person.value if person.key == "email" else None)
    if to is None:
        raise ActionError("to", "field to resolved to nothing: no address to send to")
    body = {
        "transactional_message_id": fields["message_id"],
        "to": to,
        "identifiers": person.identifiers,
        "message_data": fields.get("message_data", {}),
    }
    body.update(
        {k: v for k, v in fields.items() if k not in ("message_id", "to", "id", "message_data")}
    )
    return [Operation("send_email", person=person, attributes=body)]


_BUILDERS: dict[str, Builder] = {
    "identify_person": _identify_person,
    "track_event": _activity("event"),
    "track_page": _activity("page"),
    "track_screen": _activity("screen"),
    "identify_object": _identify_object,
    "merge_people": _merge_people,
    "delete_person": _delete_person,
    "send_transactional_email": _send_email,
    "drop": lambda fields, ctx, event_id: [],
}
