"""A workspace's end state, independent of request timing: for fault-equivalence tests.

Two runs that apply the same operations in the same order per person compare
equal (`==`) however they interleave different people, whatever cio_ids the
emulator handed out and whenever each request arrived; a run that lost a merge,
kept a deleted person, or missed an event differs. Rules:

- `people`: a list sorted by identifiers. Each person is
  `{"identifiers": {"id", "email"}, "attributes", "suppressed", "anonymous_ids",
  "devices", "activity"}`:
  - `identifiers` never holds the cio_id (assigned in arrival order);
  - `attributes` are the values clients set; the emulator's own `created_at`
    stamp and the per-attribute update times are left out (a client-sent
    `created_at` attribute stays);
  - `anonymous_ids` sorted;
  - `devices` by token: `{"platform", "attributes"}`, and `last_used` only when
    the client gave it on the device's latest add (else it is the emulator's clock);
  - `activity`: a sorted list of `[type, name, id, data, timestamp]`, `id` upper-
    cased (the dedup key) or null, `timestamp` null when the client sent none
    (the emulator then stamps arrival time). Events without an id are all listed.
- `anonymous`: activity no identify has claimed yet, a sorted list of
  `[anonymous_id, type, name, id, data, timestamp]` (same rules).
- `objects`: sorted by `(object_type_id, object_id)`, each with `attributes`,
  `relationships`, a sorted list of `{"identifiers", "attributes"}` that names the
  related person by id/email, not by cio_id, and `anonymous_relationships`, the
  relationships no identify has claimed yet, by anonymous_id.
- `deliveries`: by delivery_id, each metric reported for it (by name) as
  `{"timestamp", "recipient", "reason", "href"}` (those sent; `timestamp` null when
  the client sent none). Repeats are left out, like duplicate counts.
- `merges`: a sorted list of `{"primary", "secondary"}` identifiers (as they were
  when merged, no cio_ids); `deleted`: a sorted list of the deleted people's
  identifiers, one entry per deletion.
- Left out on purpose: cio_ids, emulator clock stamps, arrival order, duplicate
  counts, failures, and the site_id (so a faulted workspace and a control
  workspace of one emulator compare too).

Tuples are written as JSON arrays, so `EmulatorState.snapshot(site_id)` equals
the JSON of `GET /_emulator/workspaces/{site_id}/snapshot`.
"""

from __future__ import annotations

import json
from typing import Any

from .people import WorkspaceData
from .records import Activity, Device, JsonObject, Person, ReportedMetric


def _canonical(value: Any) -> str:
    """A total order over JSON values: their sorted-key JSON text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _sorted(values: list[Any]) -> list[Any]:
    return sorted(values, key=_canonical)


def _identifiers(found: JsonObject) -> JsonObject:
    return {key: value for key, value in found.items() if key in ("id", "email")}


def _activity(entry: Activity) -> list[Any]:
    return [
        entry.type,
        entry.name,
        entry.id.upper() if entry.id is not None else None,
        entry.data,
        entry.timestamp if entry.timestamp_given else None,
    ]


def _device(device: Device) -> JsonObject:
    shown: JsonObject = {"platform": device.platform, "attributes": device.attributes}
    if device.last_used_given:
        shown["last_used"] = device.last_used
    return shown


def _metric(reported: ReportedMetric) -> JsonObject:
    return {"timestamp": reported.timestamp if reported.timestamp_given else None} | (
        reported.details
    )


def _person(person: Person) -> JsonObject:
    return {
        "identifiers": _identifiers(person.identifiers()),
        "attributes": person.attributes,
        "suppressed": person.suppressed,
        "anonymous_ids": sorted(person.anonymous_ids),
        "devices": {token: _device(device) for token, device in person.devices.items()},
        "activity": _sorted([_activity(entry) for entry in person.activity]),
    }


def workspace_snapshot(data: WorkspaceData) -> JsonObject:
    """The snapshot of one workspace (see the module docstring); a detached copy."""
    people = [_person(person) for person in data.people.values()]
    anonymous = [[entry.anonymous_id, *_activity(entry)] for entry in data.anonymous]
    objects = []
    for stored in sorted(data.objects.values(), key=lambda o: o.key):
        related = []
        for cio_id, attributes in stored.relationships.items():
            person = data.people.get(cio_id)
            who = _identifiers(person.identifiers()) if person is not None else {}
            related.append({"identifiers": who, "attributes": attributes})
        objects.append(
            {
                "object_type_id": stored.object_type_id,
                "object_id": stored.object_id,
                "attributes": stored.attributes,
                "relationships": _sorted(related),
                "anonymous_relationships": stored.anonymous_relationships,
            }
        )
    merges = [
        {"primary": _identifiers(m["primary"]), "secondary": _identifiers(m["secondary"])}
        for m in data.merges
    ]
    snapshot = {
        "people": sorted(people, key=lambda p: _canonical(p["identifiers"])),
        "anonymous": _sorted(anonymous),
        "objects": objects,
        "merges": _sorted(merges),
        "deleted": _sorted([_identifiers(gone) for gone in data.deleted]),
        "deliveries": {
            delivery_id: {name: _metric(reported) for name, reported in delivery.metrics.items()}
            for delivery_id, delivery in data.deliveries.items()
        },
    }
    # A JSON round trip: detached from the live state, and equal to the HTTP answer.
    copied: JsonObject = json.loads(json.dumps(snapshot, default=str))
    return copied
