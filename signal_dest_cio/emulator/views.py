"""JSON views of one workspace's data for the inspection API (pure; state.py locks).

These show the data as stored, cio_ids and clock stamps included; `snapshot.py`
is the view that leaves out whatever depends on request timing.
"""

from __future__ import annotations

from .people import WorkspaceData
from .records import JsonObject, Person, Ref
from .transactional import as_text
from .validation import path_ref

_TRUE = ("true", "1")  # how Customer.io reads an `unsubscribed` attribute


def relationships_of(data: WorkspaceData, person: Person) -> list[JsonObject]:
    return [
        {
            "object_type_id": stored.object_type_id,
            "object_id": stored.object_id,
            "relationship_attributes": dict(stored.relationships[person.cio_id]),
        }
        for stored in data.objects.values()
        if person.cio_id in stored.relationships
    ]


def people_view(data: WorkspaceData) -> list[JsonObject]:
    return [p.view(relationships_of(data, p)) for p in data.people.values()]


def person_view(data: WorkspaceData, identifier: str) -> JsonObject | None:
    """One person, named the way a v1 path names them (`cio_…`, an email, else an id)."""
    person = data.find(path_ref(identifier))
    for kind in ("id", "email"):
        person = person or data.find(Ref(kind, identifier))
    return None if person is None else person.view(relationships_of(data, person))


def customer_view(person: Person) -> JsonObject:
    """A person as the App API's `GET /v1/customers/{id}/attributes` shows them (the
    `customerAttributesObject` of Customer.io's OpenAPI file): attribute values as
    strings, the identifiers among them; `id` blank for a person without one."""
    identifiers = {"id": person.id, "email": person.email, "cio_id": person.cio_id}
    attributes = {k: as_text(v) for k, v in person.attributes.items() if v is not None}
    if person.created_at is not None:
        attributes.setdefault("created_at", str(person.created_at))
    attributes |= {k: v for k, v in identifiers.items() if v is not None}
    created = person.created_at or 0
    timestamps = {k: int(at) for k, at in person.attribute_times.items()}
    timestamps |= {k: created for k, v in identifiers.items() if v is not None}
    unsubscribed = person.attributes.get("unsubscribed")
    return {
        "customer": {
            "id": person.id or "",
            "identifiers": identifiers,
            "attributes": attributes,
            "timestamps": timestamps,
            "unsubscribed": as_text(unsubscribed).lower() in _TRUE,
            "devices": [
                {
                    "id": device.token,
                    "platform": device.platform,
                    "last_used": device.last_used,
                    "attributes": {
                        k: as_text(v) for k, v in device.attributes.items() if v is not None
                    },
                }
                for device in person.devices.values()
            ],
        }
    }


def objects_view(data: WorkspaceData) -> list[JsonObject]:
    return [stored.view(data.people) for stored in data.objects.values()]


def deliveries_view(data: WorkspaceData) -> list[JsonObject]:
    """Each delivery a metric was reported for, with its metrics (`objects.py`)."""
    return [delivery.view() for delivery in data.deliveries.values()]


def counts_view(data: WorkspaceData) -> JsonObject:
    """A workspace summary's data part: counts, merges, deletions and failures."""
    return {
        "people": len(data.people),
        "anonymous_events": len(data.anonymous),
        "objects": len(data.objects),
        "deliveries": len(data.deliveries),
        "sends": len(data.sends),
        "duplicate_events_ignored": data.duplicates,
        "merges": list(data.merges),
        "deleted": list(data.deleted),
        "failures": list(data.failures),
    }
