"""The emulated workspaces' data and the rules that change it, like Customer.io applies them.

Pure: no HTTP. The routes validate a request, then call one method here; tests may
call the same methods (and the `*_view` ones) directly. Every method takes the
lock, so a server thread and a test thread can share one state.

Rules kept (and where the emulator simplifies):

- People are found by `id`, `email` (case-insensitive) or `cio_id`; a person is
  created by an identify, event, device or relationship naming an unknown `id` or
  `email`. An unknown `cio_id` is dropped, as Customer.io does.
- Attribute updates carry a time (`_timestamp` / v2 `timestamp`, else arrival): an
  update older than the last applied one for an attribute leaves it alone. A
  `null` or `""` value removes the attribute.
- Anonymous activity waits under its `anonymous_id` until an identify carries that
  id; then it moves to the person, and later activity with that id goes straight there.
- Event ids (ULIDs) are remembered per workspace: the same id twice is stored once.
- Suppress keeps the person, flagged (Customer.io deletes the profile; keeping it
  lets a test see what was suppressed); a suppressed person's identifies, events
  and devices are ignored (still 200) until unsuppressed.

Order matters the way it does at Customer.io, which applies calls as they arrive:

- A merge whose primary does not exist (yet) does nothing; nor does one whose
  secondary is gone (say, merged already). Nothing is created.
- A delete takes the person with their devices, activity and relationships; a
  later identify, event, device or relationship naming the same id or email
  creates a new person (a new cio_id, none of the old data). Event ids stay
  remembered, so a resent event of the deleted person is still a duplicate.
- A device token belongs to whoever it was last added to.
- Objects, relationships (anonymous ones too) and delivery metrics: `objects.py`.

What a call was asked to do and did not (an unknown primary, an unknown
`cio_id`, a suppressed person) is noted on its request's log record
(`notes.py`); failures also go to the workspace summary's `failures`.
`snapshot()` gives an end state to compare runs with (`snapshot.py`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from . import notes, objects, views
from .faults import FaultQueue
from .people import (
    WorkspaceData,
    apply_attributes,
    claim_anonymous,
    fold_into,
    set_identifier,
    why_no_merge,
)
from .records import (
    Activity,
    ActivityType,
    Device,
    JsonObject,
    Person,
    Ref,
    Workspace,
)
from .snapshot import workspace_snapshot

MAX_LOGGED_REQUESTS = 10_000
# Body keys of an identify that are instructions or identifiers, not attributes.
_NOT_ATTRIBUTES = frozenset(
    {"id", "email", "cio_id", "anonymous_id", "_timestamp", "_update", "cio_relationships"}
)


class EmulatorState:
    """Both regions' shared state: workspaces, their people, the request log, faults."""

    def __init__(
        self, workspaces: Iterable[Workspace], *, clock: Callable[[], float] = time.time
    ) -> None:
        self.workspaces = list(workspaces)
        sites = [workspace.site_id for workspace in self.workspaces]
        if len(set(sites)) != len(sites):
            raise ValueError("site_id values must be unique")
        self.clock = clock
        self.faults = FaultQueue()
        self._lock = threading.RLock()
        self._data = {site: WorkspaceData() for site in sites}
        self._requests: deque[JsonObject] = deque(maxlen=MAX_LOGGED_REQUESTS)
        self._sequence = 0

    # -- workspaces ---------------------------------------------------------------

    def workspace(self, site_id: str) -> Workspace | None:
        return next((w for w in self.workspaces if w.site_id == site_id), None)

    def workspace_for_app_key(self, app_api_key: str) -> Workspace | None:
        return next((w for w in self.workspaces if w.app_api_key == app_api_key), None)

    def workspace_for_cdp_key(self, cdp_api_key: str) -> Workspace | None:
        return next(
            (w for w in self.workspaces if cdp_api_key and w.cdp_api_key == cdp_api_key), None
        )

    def environment_id(self, site_id: str) -> int:
        return 1 + next(i for i, w in enumerate(self.workspaces) if w.site_id == site_id)

    def _ws(self, site_id: str) -> WorkspaceData:
        return self._data[site_id]

    def _now(self) -> int:
        return int(self.clock())

    def _create(self, site_id: str, ref: Ref) -> Person:
        data = self._ws(site_id)
        data.created += 1
        cio_id = f"{self.environment_id(site_id):02x}{data.created:06x}"
        person = Person(cio_id=cio_id, created_at=self._now())
        if ref.kind != "cio_id":
            setattr(person, ref.kind, ref.value)
        data.people[cio_id] = person
        return person

    def _find_or_create(self, site_id: str, ref: Ref) -> Person | None:
        person = self._ws(site_id).find(ref)
        if person is None and ref.kind != "cio_id":
            person = self._create(site_id, ref)
        return person

    # -- people -------------------------------------------------------------------

    def identify(
        self,
        site_id: str,
        ref: Ref,
        attributes: JsonObject,
        *,
        timestamp: int | None = None,
        anonymous_id: str | None = None,
        update_only: bool = False,
    ) -> None:
        """Add or update a person (v1 PUT /customers/{id}, v2 person identify)."""
        with self._lock:
            data = self._ws(site_id)
            person = data.find(ref)
            named = [
                Ref(key, str(attributes[key]))
                for key in ("id", "email")
                if isinstance(attributes.get(key), str | int) and str(attributes[key]).strip()
            ]
            if person is None and named:
                # The path's identifier is new but the body names someone: update them.
                # (Not when they already hold another value of the path's kind: that
                # is a different person, who gets created below.)
                person = next((p for r in named if (p := data.find(r)) is not None), None)
                if person is not None and ref.kind != "cio_id":
                    if getattr(person, ref.kind) is None:
                        named.insert(0, ref)
                    else:
                        person = None
            if person is None:
                if ref.kind == "cio_id" or update_only:
                    data.fail(f"identify {ref}: no such person")
                    return
                person = self._create(site_id, ref)
            if person.suppressed:
                notes.note(f"identify {ref}: suppressed, ignored")
                return
            for wanted in named:
                set_identifier(data, person, wanted, changed_by=ref.kind)
            updates = {k: v for k, v in attributes.items() if k not in _NOT_ATTRIBUTES}
            apply_attributes(person, updates, timestamp if timestamp is not None else self.clock())
            created_at = attributes.get("created_at")
            if isinstance(created_at, int) and not isinstance(created_at, bool):
                person.created_at = created_at
            if anonymous_id:
                claim_anonymous(data, person, anonymous_id)

    def record_activity(
        self,
        site_id: str,
        ref: Ref | None,
        *,
        type: ActivityType,
        name: str,
        data: JsonObject | None = None,
        timestamp: int | None = None,
        event_id: str | None = None,
        anonymous_id: str | None = None,
    ) -> str:
        """Store an event, page or screen; "stored", "duplicate" or "ignored"."""
        with self._lock:
            ws = self._ws(site_id)
            if event_id is not None and event_id.upper() in ws.seen_event_ids:
                ws.duplicates += 1
                return "duplicate"
            self._sequence += 1
            entry = Activity(
                type=type,
                name=name.strip(),
                data=dict(data or {}),
                timestamp=timestamp if timestamp is not None else self._now(),
                id=event_id,
                anonymous_id=anonymous_id,
                sequence=self._sequence,
                timestamp_given=timestamp is not None,
            )
            if ref is None:
                owner = ws.owner_of(anonymous_id) if anonymous_id else None
                if owner is None:
                    ws.anonymous.append(entry)
                    person = None
                else:
                    person = owner
            else:
                person = self._find_or_create(site_id, ref)
                if person is None:
                    notes.note(f"{type} {ref}: no such person, ignored")
                    return "ignored"
            if person is not None:
                if person.suppressed:
                    notes.note(f"{type} for {person.cio_id}: suppressed, ignored")
                    return "ignored"
                person.add_activity([entry])
            if event_id is not None:
                ws.seen_event_ids.add(event_id.upper())
            return "stored"

    def add_device(
        self,
        site_id: str,
        ref: Ref,
        token: str,
        platform: str | None,
        *,
        last_used: int | None = None,
        attributes: JsonObject | None = None,
    ) -> None:
        """Add a device, or update it; a token belongs to one person at a time."""
        with self._lock:
            person = self._find_or_create(site_id, ref)
            if person is None or person.suppressed:
                why = "no such person" if person is None else "suppressed"
                notes.note(f"add_device {ref}: {why}, ignored")
                return
            for other in self._ws(site_id).people.values():
                if other is not person:
                    other.devices.pop(token, None)
            device = person.devices.get(token)
            if device is None:
                device = person.devices[token] = Device(token, platform or "", self._now())
            device.platform = platform or device.platform
            device.last_used = last_used if last_used is not None else self._now()
            device.last_used_given = last_used is not None
            device.attributes.update(attributes or {})

    def delete_device(self, site_id: str, ref: Ref, token: str) -> None:
        with self._lock:
            person = self._ws(site_id).find(ref)
            if person is None or person.devices.pop(token, None) is None:
                notes.note(f"delete_device {ref}: no such person or device")

    def delete_person(self, site_id: str, ref: Ref) -> None:
        with self._lock:
            data = self._ws(site_id)
            person = data.find(ref)
            if person is None:
                notes.note(f"delete {ref}: no such person")
                return
            del data.people[person.cio_id]
            data.deleted.append(person.identifiers())
            for stored in data.objects.values():
                stored.relationships.pop(person.cio_id, None)

    def set_suppressed(self, site_id: str, ref: Ref, suppressed: bool) -> None:
        with self._lock:
            person = self._ws(site_id).find(ref)
            if person is None and suppressed:
                person = self._find_or_create(site_id, ref)  # suppress the identifier itself
            if person is not None:
                person.suppressed = suppressed

    def merge(self, site_id: str, primary: Ref, secondary: Ref) -> None:
        """Fold secondary into primary (see `fold_into`), then secondary is gone."""
        with self._lock:
            data = self._ws(site_id)
            keep, gone = data.find(primary), data.find(secondary)
            if keep is None:
                data.fail(f"merge: primary {primary} not found")
                return
            if gone is None or gone is keep or keep.suppressed or gone.suppressed:
                notes.note(f"merge: {why_no_merge(keep, gone, secondary)}")
                return
            fold_into(data, keep, gone)
            data.merges.append({"primary": keep.identifiers(), "secondary": gone.identifiers()})

    # -- objects, relationships, deliveries (rules in objects.py) -------------------

    def identify_object(
        self,
        site_id: str,
        key: tuple[str, str],
        attributes: JsonObject,
        relationships: Iterable[tuple[Ref, JsonObject]] = (),
        anonymous: Iterable[tuple[str, JsonObject]] = (),
    ) -> None:
        """An object identify (people related) or identify_anonymous (anonymous ids)."""
        with self._lock:
            data = self._ws(site_id)
            objects.identify_object(data, key, attributes)
            for ref, relationship in relationships:
                self._relate(site_id, ref, key, relationship, add=True)
            for anonymous_id, relationship in anonymous:
                objects.relate_anonymous(data, key, anonymous_id, relationship)

    def relate(
        self, site_id: str, ref: Ref, key: tuple[str, str], attributes: JsonObject, *, add: bool
    ) -> None:
        with self._lock:
            self._relate(site_id, ref, key, attributes, add=add)

    def _relate(
        self, site_id: str, ref: Ref, key: tuple[str, str], attributes: JsonObject, *, add: bool
    ) -> None:
        data = self._ws(site_id)
        if not add:
            objects.unrelate(data, ref, key)
            return
        person = self._find_or_create(site_id, ref)
        if person is None or person.suppressed:
            why = "no such person" if person is None else "suppressed"
            notes.note(f"relationship {ref} to {key[0]}/{key[1]}: {why}, ignored")
            return
        objects.relate(data, person, key, attributes)

    def delete_object(self, site_id: str, key: tuple[str, str]) -> None:
        with self._lock:
            objects.delete_object(self._ws(site_id), key)

    def record_metric(
        self,
        site_id: str,
        delivery_id: str,
        metric: str,
        timestamp: int | None = None,
        **details: str,
    ) -> str:
        """A delivery's metric (`POST /api/v1/metrics`): "recorded" or "repeat"."""
        with self._lock:
            at, given = (timestamp, True) if timestamp is not None else (self._now(), False)
            return objects.record_metric(self._ws(site_id), delivery_id, metric, at, given, details)

    # -- inspection -----------------------------------------------------------------

    def people_view(self, site_id: str) -> list[JsonObject]:
        with self._lock:
            return views.people_view(self._ws(site_id))

    def person_view(self, site_id: str, identifier: str) -> JsonObject | None:
        """One person, named the way a v1 path names them (`cio_…`, an email, else an id)."""
        with self._lock:
            return views.person_view(self._ws(site_id), identifier)

    def anonymous_view(self, site_id: str) -> list[JsonObject]:
        with self._lock:
            return [entry.view() for entry in self._ws(site_id).anonymous]

    def objects_view(self, site_id: str) -> list[JsonObject]:
        with self._lock:
            return views.objects_view(self._ws(site_id))

    def deliveries_view(self, site_id: str) -> list[JsonObject]:
        with self._lock:
            return views.deliveries_view(self._ws(site_id))

    def workspace_view(self, site_id: str) -> JsonObject:
        with self._lock:
            workspace = self.workspace(site_id)
            assert workspace is not None
            return {
                "site_id": site_id,
                "region": workspace.region,
                "environment_id": self.environment_id(site_id),
            } | views.counts_view(self._ws(site_id))

    def snapshot(self, site_id: str) -> JsonObject:
        """The workspace's end state, comparable across runs however requests interleaved.

        People keyed by id/email (not cio_id), no emulator clock stamps, every list
        sorted; the full rules are in `snapshot.py`.
        """
        with self._lock:
            return workspace_snapshot(self._ws(site_id))

    def log_request(self, record: JsonObject) -> None:
        with self._lock:
            self._requests.append(record)

    def request_log(self) -> list[JsonObject]:
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        """Forget every person, object, event id and logged request; keep the workspaces."""
        with self._lock:
            self._data = {site: WorkspaceData() for site in self._data}
            self._requests.clear()
            self._sequence = 0
            self.faults.clear()
