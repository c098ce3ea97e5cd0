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
- Transactional sends (App API) create the person an unknown id or email names:
  `transactional.py`; the reporting webhooks about them: `reporting.py`.

What a call was asked to do and did not (an unknown primary, an unknown
`cio_id`, a suppressed person) is noted on its request's log record
(`notes.py`); failures also go to the workspace summary's `failures`.
`snapshot()` gives an end state to compare runs with (`snapshot.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from . import notes, objects, reporting, transactional
from .people import (
    apply_attributes,
    claim_anonymous,
    fold_into,
    set_identifier,
    why_no_merge,
)
from .records import Activity, ActivityType, Device, JsonObject, Ref, Template
from .reporting import EmailMetric, Webhook, WebhookEvent
from .store import WorkspaceStore

# Body keys of an identify that are instructions or identifiers, not attributes.
_NOT_ATTRIBUTES = frozenset(
    {"id", "email", "cio_id", "anonymous_id", "_timestamp", "_update", "cio_relationships"}
)


class EmulatorState(WorkspaceStore):
    """Both regions' shared state: the workspaces and their data (`store.py`, with the
    read-only views), and the rules that change the data."""

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

    # -- the App API: transactional sends, and the reporting webhooks about them ----

    def send_email(
        self,
        site_id: str,
        ref: Ref,
        template: Template,
        *,
        to: str,
        message_data: JsonObject | None = None,
        options: JsonObject | None = None,
    ) -> JsonObject | None:
        """Queue a transactional email (rules in transactional.py): the send's view, or
        None when `ref` is a cio_id no one holds."""
        with self._lock:
            person = self._find_or_create(site_id, ref)
            if person is None:
                return None
            send = transactional.record_send(
                self._ws(site_id),
                self.environment_id(site_id),
                person,
                template,
                to=to,
                identifiers={ref.kind: ref.value},
                message_data=dict(message_data or {}),
                options=dict(options or {}),
                queued_at=self._now(),
            )
            return send.view()

    def reporting_webhooks(
        self,
        site_id: str,
        signing_key: str,
        events: Sequence[WebhookEvent | dict[str, Any]] | None = None,
        *,
        metric: EmailMetric | None = None,
    ) -> list[Webhook]:
        """Signed reporting webhooks, `(headers, body)` each, ready to POST (reporting.py):
        one per event (`{"metric", "delivery_id"}`), or `metric` for every send. Each
        gets a fresh event id and is listed on its send. ValueError for an unknown
        delivery id, before anything is made."""
        asked = None if events is None else [WebhookEvent.model_validate(e) for e in events]
        with self._lock:
            data = self._ws(site_id)
            made = []
            for event in reporting.events_for(data, asked, metric):
                now, event_id = self._now(), reporting.new_event_id(self.clock())
                body = reporting.webhook_body(data, event, event_id, now)
                listed = {"event_id": event_id, "metric": event.metric, "timestamp": now}
                data.sends[event.delivery_id].webhooks.append(listed)
                made.append(reporting.signed(body, signing_key, now))
            return made
