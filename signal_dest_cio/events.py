"""Canonical Signal/Segment-spec events: a discriminated union on `type`.

Every field is accepted in camelCase and snake_case. Parsing never raises out
of `parse_event`: bad input (including anything JSON or UTF-8 cannot carry, SPEC
section 3.1) comes back as an `InvalidEvent` naming the problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError

from . import jsoncodec
from .text import encoding_problem, is_valid_text

EVENT_TYPES = ("identify", "track", "page", "screen", "group", "alias")


def _json_object(value: Any) -> dict[str, Any]:
    """A JSON object field: the dict itself (null is empty).

    What `dict[str, Any]` would check, without the copy it makes: an event's context,
    properties and traits are most of its bytes, and copying them was most of what
    validating an event cost. Nothing downstream changes an event's dicts (the mapper
    is pure, and builds new ones)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PydanticCustomError("dict_type", "Input should be a valid dictionary")
    plain: dict[str, Any] = value if type(value) is dict else dict(value)
    for key in plain:
        if type(key) is not str:
            raise PydanticCustomError("string_type", "Input should be a valid string")
    return plain


JsonObject = Annotated[dict[str, Any], PlainValidator(_json_object)]


def _alias(snake: str, camel: str) -> Any:
    return Field(default=None, validation_alias=AliasChoices(snake, camel))


def _as_identifier(value: Any) -> str | None:
    """Trimmed string form of an id; numbers become strings, empty is absent."""
    if type(value) is str:  # nearly always: the one test before the answer
        return value.strip() or None
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value.strip() or None
    raise ValueError("must be a string or a number")


Identifier = Annotated[str | None, PlainValidator(_as_identifier)]


class Context(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    traits: JsonObject = Field(default_factory=dict)
    page: JsonObject = Field(default_factory=dict)
    device: JsonObject = Field(default_factory=dict)
    app: JsonObject = Field(default_factory=dict)
    os: JsonObject = Field(default_factory=dict)
    consent: JsonObject = Field(default_factory=dict)
    locale: Any = None


class _EventBase(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    message_id: Identifier = _alias("message_id", "messageId")
    user_id: Identifier = _alias("user_id", "userId")
    anonymous_id: Identifier = _alias("anonymous_id", "anonymousId")
    timestamp: Any = None
    original_timestamp: Any = _alias("original_timestamp", "originalTimestamp")
    # When the host took the event in (it stamps one on every event): the event time
    # when the event itself names none.
    received_at: Any = _alias("received_at", "receivedAt")
    context: Context = Field(default_factory=Context)
    properties: JsonObject = Field(default_factory=dict)
    traits: JsonObject = Field(default_factory=dict)

    @field_validator("context", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


class IdentifyEvent(_EventBase):
    type: Literal["identify"]


class TrackEvent(_EventBase):
    type: Literal["track"]
    event: str | None = None


class PageEvent(_EventBase):
    type: Literal["page"]
    name: str | None = None


class ScreenEvent(_EventBase):
    type: Literal["screen"]
    name: str | None = None


class GroupEvent(_EventBase):
    type: Literal["group"]
    group_id: Identifier = _alias("group_id", "groupId")


class AliasEvent(_EventBase):
    type: Literal["alias"]
    previous_id: Identifier = _alias("previous_id", "previousId")


Event = Annotated[
    IdentifyEvent | TrackEvent | PageEvent | ScreenEvent | GroupEvent | AliasEvent,
    Field(discriminator="type"),
]
_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
# Its pydantic-core validator, called directly: the adapter's keyword-handling
# wrapper cost a tenth of validating a whole event.
_validate_event = _EVENT_ADAPTER.validator.validate_python
EVENT_CLASSES = (IdentifyEvent, TrackEvent, PageEvent, ScreenEvent, GroupEvent, AliasEvent)


@dataclass(frozen=True, slots=True)
class InvalidEvent:
    """Input that is not a canonical event, with the reason in words."""

    code: str
    message: str
    field: str | None = None
    message_id: str | None = None


def _message_id_of(raw: Any) -> str | None:
    if isinstance(raw, dict):
        for key in ("messageId", "message_id"):
            try:
                value = _as_identifier(raw.get(key))
            except ValueError:
                return None
            if value:
                # The outcome carries it on, so it must encode too.
                return value if is_valid_text(value) else None
    return None


def _describe(error: ValidationError) -> tuple[str, str]:
    first = error.errors(include_url=False)[0]
    # The first location part is the union tag (the event type); drop it.
    path = ".".join(str(part) for part in first["loc"][1:])
    return path, f"{path or 'event'}: {first['msg']}"


def _plain_values(event: Event) -> JsonObject:
    """A parsed event as plain values (fields by their model names, extra keys as given)."""
    values = {**event.__dict__, **(event.__pydantic_extra__ or {})}
    context = event.context
    values["context"] = {**context.__dict__, **(context.__pydantic_extra__ or {})}
    return values


def parse_event(raw: Any) -> Event | InvalidEvent:
    """A decoded JSON value, JSON text or parsed event in; an event or why it is not one out."""
    plain = False  # known to hold nothing but what UTF-8 JSON carries
    if isinstance(raw, (str, bytes, bytearray)):
        try:
            raw, plain = jsoncodec.loads(raw)
        except ValueError as error:
            return InvalidEvent("malformed_json", f"not valid JSON: {error}")
        except RecursionError:
            return InvalidEvent("malformed_json", "not valid JSON: nested too deeply to read")
    # Before pydantic: it would refuse a key UTF-8 cannot carry, but without naming it,
    # and let a value through that breaks the encoding later, in delivery. (What orjson
    # read needs no look: it refuses lone surrogates itself.)
    # A dict is never a model: `isinstance` against the six model classes goes through
    # their ABC metaclass, six Python-level checks (a microsecond) for every event.
    parsed = type(raw) is not dict and isinstance(raw, EVENT_CLASSES)
    values = _plain_values(raw) if parsed else raw
    unfit = None if plain else encoding_problem(values)
    if unfit is not None:
        return InvalidEvent(unfit.code, unfit.message, unfit.field, _message_id_of(values))
    if parsed:
        return raw  # type: ignore[no-any-return]
    if not isinstance(raw, dict):
        return InvalidEvent(
            "invalid_event", f"an event must be a JSON object, got {_json_type(raw)}"
        )
    kind = raw.get("type")
    if kind not in EVENT_TYPES:
        allowed = ", ".join(EVENT_TYPES)
        problem = "missing" if kind is None else f"{kind!r} is not supported"
        return InvalidEvent(
            "unsupported_type",
            f"event type {problem}; expected one of {allowed}",
            "type",
            _message_id_of(raw),
        )
    try:
        event: Event = _validate_event(raw)
        return event
    except ValidationError as error:
        field, message = _describe(error)
        return InvalidEvent("invalid_event", message, field or None, _message_id_of(raw))


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")
