"""Track API v2 items (`/api/v2/entity`, each item of `/api/v2/batch`): check, then apply.

An item is applied only when it has no problems; its problems become the
`errors[]` of a 400 (entity) or, with `batch_index`, of a 207 (batch).
"""

from __future__ import annotations

from typing import Any

from .records import ActivityType, Ref
from .state import EmulatorState
from .validation import (
    MAX_ITEM_BYTES,
    Problem,
    anonymous_relationships,
    check_activity,
    check_attributes,
    check_device,
    check_timestamp,
    identifiers_ref,
    json_size,
    object_key,
)

PERSON_ACTIONS = (
    "identify",
    "delete",
    "event",
    "page",
    "screen",
    "add_device",
    "delete_device",
    "merge",
    "suppress",
    "unsuppress",
    "add_relationships",
    "delete_relationships",
)
_ACTIVITY_TYPES: dict[str, ActivityType] = {"event": "event", "page": "page", "screen": "screen"}
OBJECT_ACTIONS = (
    "identify",
    "identify_anonymous",
    "delete",
    "add_relationships",
    "delete_relationships",
)


def apply_item(state: EmulatorState, site_id: str, item: Any) -> list[Problem]:
    """Check one v2 item and, when it is valid, apply it; its problems otherwise."""
    if not isinstance(item, dict):
        return [Problem("", "invalid", "each item must be an object")]
    if (size := json_size(item)) > MAX_ITEM_BYTES:
        return [Problem("", "too_large", f"item is {size} bytes; at most {MAX_ITEM_BYTES}")]
    kind, action = item.get("type"), item.get("action")
    if kind == "person":
        if action not in PERSON_ACTIONS:
            return [Problem("action", "invalid", f"unknown person action {action!r}")]
        return _person(state, site_id, item, action)
    if kind == "object":
        if action not in OBJECT_ACTIONS:
            return [Problem("action", "invalid", f"unknown object action {action!r}")]
        return _object(state, site_id, item, action)
    if kind is None:
        return [Problem("type", "required", "is required")]
    return [Problem("type", "unsupported", f"type {kind!r} is not emulated")]


def _person(state: EmulatorState, site_id: str, item: dict[str, Any], action: str) -> list[Problem]:
    if action == "merge":
        primary, _, problems = identifiers_ref(item.get("primary"), "primary")
        secondary, _, more = identifiers_ref(item.get("secondary"), "secondary")
        if problems or more:
            return problems + more
        assert primary is not None and secondary is not None
        state.merge(site_id, primary, secondary)
        return []
    activity = _ACTIVITY_TYPES.get(action)
    ref, anonymous_id, problems = identifiers_ref(
        item.get("identifiers"), "identifiers", allow_anonymous=activity is not None
    )
    if problems:
        return problems
    if activity is not None:
        return _activity(state, site_id, item, activity, ref, anonymous_id)
    assert ref is not None
    if action == "identify":
        return _identify(state, site_id, item, ref)
    if action in ("add_device", "delete_device"):
        device = item.get("device")
        add = action == "add_device"
        problems = check_device(device, "device", "token", need_platform=add)
        if problems:
            return problems
        assert isinstance(device, dict)
        if add:
            state.add_device(
                site_id,
                ref,
                device["token"],
                device.get("platform"),
                last_used=device.get("last_used"),
                attributes=device.get("attributes"),
            )
        else:
            state.delete_device(site_id, ref, device["token"])
    elif action == "delete":
        state.delete_person(site_id, ref)
    elif action in ("suppress", "unsuppress"):
        state.set_suppressed(site_id, ref, action == "suppress")
    else:
        return _person_relationships(state, site_id, item, ref, add=action == "add_relationships")
    return []


def _identify(state: EmulatorState, site_id: str, item: dict[str, Any], ref: Ref) -> list[Problem]:
    attributes = item.get("attributes", {})
    problems = check_attributes(attributes, "attributes")
    problems += check_timestamp(item.get("timestamp"), "timestamp")
    relationships = item.get("cio_relationships")
    if relationships is not None:
        problems += _relationship_problems(relationships, objects=True)
    if problems:
        return problems
    anonymous_id = attributes.get("anonymous_id")
    state.identify(
        site_id,
        ref,
        attributes,
        timestamp=item.get("timestamp"),
        anonymous_id=anonymous_id if isinstance(anonymous_id, str) else None,
        update_only=attributes.get("_update") is True,
    )
    for key, extra in _object_links(relationships or []):
        state.relate(site_id, ref, key, extra, add=True)
    return []


def _activity(
    state: EmulatorState,
    site_id: str,
    item: dict[str, Any],
    action: ActivityType,
    ref: Ref | None,
    anonymous_id: str | None,
) -> list[Problem]:
    problems = check_activity(item, data_field="attributes", type_field=None)
    if problems:
        return problems
    state.record_activity(
        site_id,
        ref,
        type=action,
        name=item["name"],
        data=item.get("attributes"),
        timestamp=item.get("timestamp"),
        event_id=item.get("id"),
        anonymous_id=anonymous_id,
    )
    return []


def _relationship_problems(value: Any, *, objects: bool = False) -> list[Problem]:
    """A `cio_relationships` list; with `objects`, each entry must name an object (a
    person's relationships), else the routes check the people it names."""
    if value is None:
        return [Problem("cio_relationships", "required", "is required")]
    if not isinstance(value, list):
        return [Problem("cio_relationships", "invalid", "must be a list")]
    problems: list[Problem] = []
    for index, entry in enumerate(value):
        field = f"cio_relationships[{index}]"
        if not isinstance(entry, dict):
            problems.append(Problem(field, "invalid", "must be an object"))
            continue
        attributes = entry.get("relationship_attributes", {})
        problems += check_attributes(attributes, f"{field}.relationship_attributes")
        if objects:
            problems += object_key(entry.get("identifiers"), f"{field}.identifiers")[1]
    return problems


def _object_links(value: list[Any]) -> list[tuple[tuple[str, str], dict[str, Any]]]:
    """(object key, relationship attributes) for a person's relationship list."""
    links = []
    for entry in value:
        key, problems = object_key(entry.get("identifiers"), "identifiers")
        if key is not None and not problems:
            links.append((key, dict(entry.get("relationship_attributes") or {})))
    return links


def _person_relationships(
    state: EmulatorState, site_id: str, item: dict[str, Any], ref: Ref, *, add: bool
) -> list[Problem]:
    relationships = item.get("cio_relationships")
    problems = _relationship_problems(relationships, objects=True)
    if problems:
        return problems
    assert isinstance(relationships, list)
    for key, extra in _object_links(relationships):
        state.relate(site_id, ref, key, extra, add=add)
    return []


def _object(state: EmulatorState, site_id: str, item: dict[str, Any], action: str) -> list[Problem]:
    key, problems = object_key(item.get("identifiers"), "identifiers")
    if problems:
        return problems
    assert key is not None
    if action == "delete":
        state.delete_object(site_id, key)
        return []
    attributes = item.get("attributes", {})
    if action.startswith("identify"):
        problems += check_attributes(attributes, "attributes")
    if action == "identify_anonymous":
        anonymous, more = anonymous_relationships(item)
        if problems or more:
            return problems + more
        state.identify_object(site_id, key, attributes, anonymous=anonymous)
        return []
    # An identify may relate no one; adding or deleting relationships needs the list.
    relationships = item.get("cio_relationships", [] if action == "identify" else None)
    problems += _relationship_problems(relationships)
    people: list[tuple[Ref, dict[str, Any]]] = []
    for index, entry in enumerate(relationships if isinstance(relationships, list) else []):
        if not isinstance(entry, dict):
            continue
        field = f"cio_relationships[{index}].identifiers"
        ref, _, more = identifiers_ref(entry.get("identifiers"), field)
        problems += more
        if ref is not None:
            people.append((ref, dict(entry.get("relationship_attributes") or {})))
    if problems:
        return problems
    if action == "identify":
        state.identify_object(site_id, key, attributes, people)
    else:
        for ref, extra in people:
            state.relate(site_id, ref, key, extra, add=action == "add_relationships")
    return []
