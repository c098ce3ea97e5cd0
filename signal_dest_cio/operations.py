"""What an event becomes: Customer.io operations, before they are rendered to HTTP."""

from __future__ import annotations

import json
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Literal, TypeVar

from .identity import Person
from .jsoncodec import dumps

Action = Literal[
    "identify",
    "event",
    "page",
    "screen",
    "add_device",
    "delete_device",
    "delete",
    "suppress",
    "unsuppress",
    "merge",
    "object_identify",  # group, known person: the object, related to `person`
    "object_identify_anonymous",  # group, anonymous: the object, related to `anonymous_id`
    "object_delete",
    "delete_relationships",  # person: drop the relationship to the object named
    "report_metric",  # POST /api/v1/metrics: `attributes` is the body (no v2 item)
    "send_email",  # App API POST /v1/send/email: `attributes` is the body (SPEC 10)
    "pipelines",  # a Data Pipelines call: `name` is its type, `attributes` its body
]


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def compact_json_text(value: Any) -> str:
    """JSON as it goes over the wire (compact, not ASCII-escaped); NaN or Infinity raise
    ValueError. One encoder serves every call: `json.dumps` with options builds one each time.
    """
    return _COMPACT.encode(value)


def compact_json(value: Any) -> bytes:
    """`compact_json_text` as UTF-8 bytes (a lone surrogate raises UnicodeEncodeError),
    at orjson's speed (`jsoncodec.dumps`)."""
    return dumps(value, allow_nan=False)


_Frozen = TypeVar("_Frozen", bound=type)


def init_through_slots(cls: _Frozen) -> _Frozen:
    """`cls`, a frozen slotted dataclass, with an `__init__` that sets each field through
    its slot's own descriptor: the same signature, the same values, faster.

    A frozen dataclass's `__init__` sets each field with `object.__setattr__`, which looks
    the field up by name every time: for an Operation's 14 fields that was 5 us, a
    twentieth of mapping an event. The descriptor is the slot itself, found once here.
    Assignment afterwards still raises FrozenInstanceError (`__setattr__` is untouched).
    Only plain defaults are taken: a default factory or a keyword-only field is refused.
    """
    namespace: dict[str, Any] = {}
    parameters, lines = [], []
    for member in fields(cls):
        if member.default_factory is not MISSING or member.kw_only or not member.init:
            raise TypeError(f"{cls.__name__}.{member.name}: only plain fields are supported")
        name = member.name
        namespace[f"_set_{name}"] = cls.__dict__[name].__set__
        if member.default is MISSING:
            parameters.append(name)
        else:
            namespace[f"_default_{name}"] = member.default
            parameters.append(f"{name}=_default_{name}")
        lines.append(f"    _set_{name}(self, {name})\n")
    exec(f"def __init__(self, {', '.join(parameters)}):\n{''.join(lines)}", namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    type.__setattr__(cls, "__init__", init)
    return cls


@dataclass(frozen=True, slots=True)
class Device:
    token: str
    platform: str | None = None
    last_used: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@init_through_slots
@dataclass(frozen=True, slots=True)
class Operation:
    """One Customer.io Track API operation; which fields matter depends on `action`."""

    action: Action
    person: Person | None = None  # None only for anonymous event/page/screen
    anonymous_id: str | None = None
    name: str | None = None
    attributes: dict[str, Any] | None = None  # person/object attributes or event data
    timestamp: int | None = None
    event_id: str | None = None
    device: Device | None = None
    secondary: Person | None = None  # merge: the person merged away
    # The object of object_* actions, or that an identify or delete_relationships
    # relates the person to (set, an identify travels as a v2 item only).
    object_type_id: str | None = None
    object_id: str | None = None
    relationship_attributes: dict[str, Any] | None = None  # of that relationship
    # A request that only prepares the event (the device of an Application Installed):
    # refused, it costs the event nothing but a warning; to be retried, it holds the lane.
    helper: bool = False
    # event/page/screen: `compact_json(attributes)`, made when the mapper measured the
    # data against its size limit; rendering splices it in rather than encode it twice.
    data_json: bytes | None = field(default=None, compare=False, repr=False)


@init_through_slots
@dataclass(frozen=True, slots=True)
class Mapped:
    """An event ready to send: its operations, in order, and what was adjusted on the way."""

    message_id: str | None
    operations: tuple[Operation, ...]
    warnings: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()  # the mapping rules (SPEC 12) whose actions made them


@dataclass(frozen=True, slots=True)
class Refused:
    """An event that is not sent: filtered by policy or rejected as invalid."""

    kind: Literal["filtered", "rejected"]
    code: str
    message: str
    field: str | None = None
    message_id: str | None = None
    warnings: tuple[str, ...] = ()
