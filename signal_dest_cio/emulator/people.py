"""Rules on one workspace's people that need no clock and no lock (state.py holds those)."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import notes
from .records import Activity, Delivery, JsonObject, Person, Ref, Send, StoredObject


@dataclass(slots=True)
class WorkspaceData:
    people: dict[str, Person] = field(default_factory=dict)  # by cio_id
    anonymous: list[Activity] = field(default_factory=list)
    objects: dict[tuple[str, str], StoredObject] = field(default_factory=dict)
    deliveries: dict[str, Delivery] = field(default_factory=dict)  # by delivery_id
    sends: dict[str, Send] = field(default_factory=dict)  # transactional, by delivery_id
    seen_event_ids: set[str] = field(default_factory=set)
    duplicates: int = 0
    merges: list[JsonObject] = field(default_factory=list)
    deleted: list[JsonObject] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # "attribute update failures" and such
    created: int = 0

    def fail(self, message: str) -> None:
        """Record a failure, in the workspace's list and the current request's notes."""
        self.failures.append(message)
        notes.note(message)

    def find(self, ref: Ref) -> Person | None:
        if ref.kind == "cio_id":
            return self.people.get(ref.value)
        if ref.kind == "email":
            wanted = ref.value.lower()
            return next(
                (p for p in self.people.values() if (p.email or "").lower() == wanted), None
            )
        return next((p for p in self.people.values() if p.id == ref.value), None)

    def owner_of(self, anonymous_id: str) -> Person | None:
        return next((p for p in self.people.values() if anonymous_id in p.anonymous_ids), None)


def set_identifier(data: WorkspaceData, person: Person, wanted: Ref, changed_by: str) -> None:
    current: str | None = getattr(person, wanted.kind)
    same = (current or "").lower() == wanted.value.lower()
    if current == wanted.value or (wanted.kind == "email" and same):
        return
    holder = data.find(wanted)
    # Customer.io changes an id only through cio_id, an email through id or cio_id.
    may_change = changed_by == "cio_id" or (wanted.kind == "email" and changed_by == "id")
    if (holder is not None and holder is not person) or (current and not may_change):
        data.fail(f"attribute update failure: {wanted.kind}={wanted.value} for {person.cio_id}")
        return
    setattr(person, wanted.kind, wanted.value)


def apply_attributes(person: Person, updates: JsonObject, applied_at: float) -> None:
    """Set (or, for null and "", remove) attributes not set later than `applied_at`."""
    for name, value in updates.items():
        if person.attribute_times.get(name, float("-inf")) > applied_at:
            continue  # a newer update already set this attribute
        person.attribute_times[name] = applied_at
        if value is None or value == "":
            person.attributes.pop(name, None)
        else:
            person.attributes[name] = value


def update_values(current: JsonObject, updates: JsonObject) -> None:
    """Object or relationship attributes, set; a `null` or `""` value removes one."""
    for name, value in updates.items():
        if value is None or value == "":
            current.pop(name, None)
        else:
            current[name] = value


def claim_anonymous(data: WorkspaceData, person: Person, anonymous_id: str) -> None:
    """The person now holds `anonymous_id`: its activity, and the relationships objects
    were given for it (`identify_anonymous`), carry over to them."""
    if anonymous_id not in person.anonymous_ids:
        person.anonymous_ids.append(anonymous_id)
    moving = [entry for entry in data.anonymous if entry.anonymous_id == anonymous_id]
    if moving:
        data.anonymous = [e for e in data.anonymous if e.anonymous_id != anonymous_id]
        person.add_activity(moving)
    for stored in data.objects.values():
        waiting = stored.anonymous_relationships.pop(anonymous_id, None)
        if waiting is not None:
            update_values(stored.relationships.setdefault(person.cio_id, {}), waiting)


def fold_into(data: WorkspaceData, keep: Person, gone: Person) -> None:
    """A merge: `gone`'s attributes that `keep` lacks, its activity, devices, relationships."""
    for name, value in gone.attributes.items():
        if keep.attributes.get(name) in (None, ""):
            keep.attributes[name] = value
            keep.attribute_times[name] = gone.attribute_times.get(name, 0.0)
    keep.add_activity(gone.activity)
    for token, device in gone.devices.items():
        keep.devices.setdefault(token, device)
    keep.anonymous_ids.extend(a for a in gone.anonymous_ids if a not in keep.anonymous_ids)
    for stored in data.objects.values():
        if gone.cio_id in stored.relationships:
            attributes = stored.relationships.pop(gone.cio_id)
            stored.relationships.setdefault(keep.cio_id, attributes)
    del data.people[gone.cio_id]


def why_no_merge(keep: Person, gone: Person | None, secondary: Ref) -> str:
    """Why a merge into an existing primary changed nothing (for the request's notes)."""
    if gone is None:
        return f"secondary {secondary} not found, nothing merged"
    if gone is keep:
        return "primary and secondary are one person, nothing merged"
    return "a suppressed person is not merged"
