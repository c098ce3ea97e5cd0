"""What an emulated workspace holds: people, their devices and activity, objects, sends.

Plain data with a JSON view each; the rules that change them live in `state.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

IdentifierKind = Literal["id", "email", "cio_id"]
RegionName = Literal["us", "eu"]
ActivityType = Literal["event", "page", "screen"]
JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Template:
    """A transactional message of the workspace: `POST /v1/send/email` names it by `id`,
    or by its trigger `name` (case-insensitive)."""

    id: int
    name: str
    subject: str = ""


@dataclass(frozen=True, slots=True)
class Workspace:
    """One Customer.io workspace the emulator serves; keys never show in its repr."""

    site_id: str
    track_api_key: str = field(repr=False)
    app_api_key: str = field(repr=False)
    region: RegionName
    cdp_api_key: str | None = field(default=None, repr=False)  # the Data Pipelines API key
    transactional_templates: tuple[Template, ...] = ()

    def template(self, named: int | str) -> Template | None:
        """The template a `transactional_message_id` names: an id (a number, or a string
        of digits), else a trigger name, case-insensitively."""
        text = str(named).strip()
        if text.isdigit():  # trigger names are never all digits (workspaces.py checks)
            return next((t for t in self.transactional_templates if t.id == int(text)), None)
        wanted = text.casefold()
        return next((t for t in self.transactional_templates if t.name.casefold() == wanted), None)


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference to a person: which identifier, and its value (cio_id without `cio_`)."""

    kind: IdentifierKind
    value: str

    def __str__(self) -> str:
        return f"{self.kind}={self.value}"


@dataclass(slots=True)
class Activity:
    """One entry of a person's (or the anonymous) activity log."""

    type: ActivityType
    name: str
    data: JsonObject
    timestamp: int
    id: str | None = None
    anonymous_id: str | None = None
    sequence: int = 0  # arrival order, to keep equal timestamps stable
    timestamp_given: bool = True  # False: `timestamp` is the emulator's arrival time

    def view(self) -> JsonObject:
        shown: JsonObject = {
            "type": self.type,
            "name": self.name,
            "data": self.data,
            "timestamp": self.timestamp,
            "id": self.id,
        }
        if self.anonymous_id is not None:
            shown["anonymous_id"] = self.anonymous_id
        return shown


@dataclass(slots=True)
class Device:
    token: str
    platform: str
    last_used: int
    attributes: dict[str, Any] = field(default_factory=dict)
    last_used_given: bool = False  # False: `last_used` is the emulator's clock

    def view(self) -> JsonObject:
        return {
            "token": self.token,
            "platform": self.platform,
            "last_used": self.last_used,
            "attributes": dict(self.attributes),
        }


@dataclass(slots=True)
class Person:
    cio_id: str
    id: str | None = None
    email: str | None = None
    attributes: JsonObject = field(default_factory=dict)
    attribute_times: dict[str, float] = field(default_factory=dict)  # last applied, per name
    created_at: int | None = None
    devices: dict[str, Device] = field(default_factory=dict)  # by token
    activity: list[Activity] = field(default_factory=list)
    anonymous_ids: list[str] = field(default_factory=list)
    suppressed: bool = False

    def identifiers(self) -> dict[str, str]:
        found = {"id": self.id, "email": self.email, "cio_id": self.cio_id}
        return {key: value for key, value in found.items() if value is not None}

    def add_activity(self, entries: list[Activity]) -> None:
        self.activity.extend(entries)
        self.activity.sort(key=lambda entry: (entry.timestamp, entry.sequence))

    def view(self, relationships: list[JsonObject] | None = None) -> JsonObject:
        return {
            "cio_id": self.cio_id,
            "identifiers": self.identifiers(),
            "attributes": dict(self.attributes),
            "created_at": self.created_at,
            "devices": [device.view() for device in self.devices.values()],
            "activity": [entry.view() for entry in self.activity],
            "anonymous_ids": list(self.anonymous_ids),
            "suppressed": self.suppressed,
            "relationships": relationships or [],
        }


@dataclass(slots=True)
class StoredObject:
    """A custom object (from a group call) and the people related to it, by cio_id.

    An `identify_anonymous` relates it to an anonymous id that no one holds yet; the
    relationship waits in `anonymous_relationships` until an identify claims that id.
    """

    object_type_id: str
    object_id: str
    attributes: JsonObject = field(default_factory=dict)
    relationships: dict[str, JsonObject] = field(default_factory=dict)  # cio_id -> attributes
    anonymous_relationships: dict[str, JsonObject] = field(default_factory=dict)  # by anon id

    @property
    def key(self) -> tuple[str, str]:
        return (self.object_type_id, self.object_id)

    def view(self, people: dict[str, Person]) -> JsonObject:
        related = []
        for cio_id, attributes in self.relationships.items():
            person = people.get(cio_id)
            identifiers = person.identifiers() if person else {"cio_id": cio_id}
            related.append({"identifiers": identifiers, "relationship_attributes": attributes})
        waiting = [
            {"identifiers": {"anonymous_id": anonymous_id}, "relationship_attributes": attributes}
            for anonymous_id, attributes in self.anonymous_relationships.items()
        ]
        return {
            "object_type_id": self.object_type_id,
            "object_id": self.object_id,
            "attributes": dict(self.attributes),
            "relationships": related,
            "anonymous_relationships": waiting,
        }


@dataclass(slots=True)
class ReportedMetric:
    """One metric of a delivery, as first reported (`POST /api/v1/metrics`)."""

    timestamp: int
    timestamp_given: bool  # False: `timestamp` is the emulator's arrival time
    details: JsonObject = field(default_factory=dict)  # recipient, reason, href as sent

    def view(self, metric: str) -> JsonObject:
        return {"metric": metric, "timestamp": self.timestamp, **self.details}


@dataclass(slots=True)
class Delivery:
    """A message delivery the workspace was told about, and its metrics by name.

    A delivery has each metric once (opened is a moment, not a count), as Customer.io
    shows it: a metric reported again is counted in `repeats` and changes nothing.
    """

    delivery_id: str
    metrics: dict[str, ReportedMetric] = field(default_factory=dict)
    repeats: int = 0

    def view(self) -> JsonObject:
        return {
            "delivery_id": self.delivery_id,
            "metrics": [reported.view(name) for name, reported in self.metrics.items()],
            "repeats": self.repeats,
        }


@dataclass(slots=True)
class Send:
    """A transactional email the workspace queued (`POST /v1/send/email`).

    `identifiers` are as the request gave them; `cio_id` names the person it went to
    (who may have changed, or gone, since). `webhooks` lists the reporting webhooks
    the emulator made for it: `{"event_id", "metric", "timestamp"}`.
    """

    delivery_id: str
    queued_at: int
    template: Template
    to: str
    identifiers: dict[str, str]
    cio_id: str
    subject: str  # the template's, or the request's override, rendered
    message_data: JsonObject = field(default_factory=dict)
    options: JsonObject = field(default_factory=dict)  # the schema's other fields, as given
    webhooks: list[JsonObject] = field(default_factory=list)

    def view(self) -> JsonObject:
        return {
            "delivery_id": self.delivery_id,
            "queued_at": self.queued_at,
            "transactional_message_id": self.template.id,
            "template": self.template.name,
            "subject": self.subject,
            "to": self.to,
            "identifiers": dict(self.identifiers),
            "cio_id": self.cio_id,
            "message_data": self.message_data,
            "options": self.options,
            "webhooks": list(self.webhooks),
        }
