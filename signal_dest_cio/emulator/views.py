"""JSON views of one workspace's data for the inspection API (pure; state.py locks).

These show the data as stored, cio_ids and clock stamps included; `snapshot.py`
is the view that leaves out whatever depends on request timing.
"""

from __future__ import annotations

from .people import WorkspaceData
from .records import JsonObject, Person, Ref
from .validation import path_ref


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
        "duplicate_events_ignored": data.duplicates,
        "merges": list(data.merges),
        "deleted": list(data.deleted),
        "failures": list(data.failures),
    }
