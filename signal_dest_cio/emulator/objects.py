"""Rules on objects, relationships and delivery metrics that need no clock and no lock
(state.py holds those, and finds or creates the people these rules are given).

- An object's attributes, like a relationship's, are set by name; `null` or `""`
  removes one.
- `identify_anonymous` relates an object to an anonymous id: to whoever holds that id
  already, else the relationship waits on the object until an identify carrying the
  id claims it (`people.claim_anonymous`), as Customer.io carries it over.
- Deleting an object takes its relationships, waiting ones included.
- A delivery holds each metric once, as first reported; a repeat is counted only.
"""

from __future__ import annotations

from . import notes
from .people import WorkspaceData, update_values
from .records import Delivery, JsonObject, Person, Ref, ReportedMetric, StoredObject

ObjectKey = tuple[str, str]


def _label(key: ObjectKey) -> str:
    return f"{key[0]}/{key[1]}"


def identify_object(data: WorkspaceData, key: ObjectKey, attributes: JsonObject) -> StoredObject:
    stored = data.objects.setdefault(key, StoredObject(*key))
    update_values(stored.attributes, attributes)
    return stored


def relate(data: WorkspaceData, person: Person, key: ObjectKey, attributes: JsonObject) -> None:
    stored = data.objects.setdefault(key, StoredObject(*key))
    update_values(stored.relationships.setdefault(person.cio_id, {}), attributes)


def relate_anonymous(
    data: WorkspaceData, key: ObjectKey, anonymous_id: str, attributes: JsonObject
) -> None:
    owner = data.owner_of(anonymous_id)
    if owner is not None and owner.suppressed:
        notes.note(f"relationship {anonymous_id} to {_label(key)}: suppressed, ignored")
    elif owner is not None:
        relate(data, owner, key, attributes)
    else:
        stored = data.objects.setdefault(key, StoredObject(*key))
        update_values(stored.anonymous_relationships.setdefault(anonymous_id, {}), attributes)


def unrelate(data: WorkspaceData, ref: Ref, key: ObjectKey) -> None:
    person, stored = data.find(ref), data.objects.get(key)
    if person is None or stored is None or stored.relationships.pop(person.cio_id, None) is None:
        notes.note(f"delete_relationships {ref} from {_label(key)}: no such relationship")


def delete_object(data: WorkspaceData, key: ObjectKey) -> None:
    if data.objects.pop(key, None) is None:
        notes.note(f"delete object {_label(key)}: no such object")


def record_metric(
    data: WorkspaceData,
    delivery_id: str,
    metric: str,
    timestamp: int,
    timestamp_given: bool,
    details: JsonObject,
) -> str:
    """Record `metric` on the delivery; "recorded", or "repeat" when it had it already."""
    delivery = data.deliveries.setdefault(delivery_id, Delivery(delivery_id))
    if metric in delivery.metrics:
        delivery.repeats += 1
        notes.note(f"metric {metric} of delivery {delivery_id}: reported before, first kept")
        return "repeat"
    delivery.metrics[metric] = ReportedMetric(timestamp, timestamp_given, dict(details))
    return "recorded"
