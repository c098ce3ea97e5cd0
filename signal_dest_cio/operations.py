"""What an event becomes: Customer.io operations, before they are rendered to HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .identity import Person

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
    "object_identify",
]


@dataclass(frozen=True, slots=True)
class Device:
    token: str
    platform: str | None = None
    last_used: int | None = None
    attributes: dict[str, str] = field(default_factory=dict)


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
    object_type_id: str | None = None  # object_identify (group)
    object_id: str | None = None


@dataclass(frozen=True, slots=True)
class Mapped:
    """An event ready to send: its operations, in order, and what was adjusted on the way."""

    message_id: str | None
    operations: tuple[Operation, ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Refused:
    """An event that is not sent: filtered by policy or rejected as invalid."""

    kind: Literal["filtered", "rejected"]
    code: str
    message: str
    field: str | None = None
    message_id: str | None = None
    warnings: tuple[str, ...] = ()
