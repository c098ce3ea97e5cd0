"""The workspaces, their data, the request log and the read-only views of them.

`EmulatorState` (state.py) is this plus the rules that change the data; the split
keeps each file about one thing. Every method takes the lock, so a server thread and
a test thread can share one state; nothing here changes a person.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from . import views
from .faults import FaultQueue
from .people import WorkspaceData
from .records import JsonObject, Person, Ref, Workspace
from .snapshot import workspace_snapshot

MAX_LOGGED_REQUESTS = 10_000


class WorkspaceStore:
    """Both regions' shared data: workspaces, their people, the request log, faults."""

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
        return next(
            (w for w in self.workspaces if app_api_key and w.app_api_key == app_api_key), None
        )

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

    # -- inspection -----------------------------------------------------------------

    def people_view(self, site_id: str) -> list[JsonObject]:
        with self._lock:
            return views.people_view(self._ws(site_id))

    def person_view(self, site_id: str, identifier: str) -> JsonObject | None:
        """One person, named the way a v1 path names them (`cio_…`, an email, else an id)."""
        with self._lock:
            return views.person_view(self._ws(site_id), identifier)

    def customer_attributes(self, site_id: str, ref: Ref) -> JsonObject | None:
        """The App API's answer for a person (`views.customer_view`); None when there is
        no such person, or they are suppressed (Customer.io deletes those profiles)."""
        with self._lock:
            person = self._ws(site_id).find(ref)
            if person is None or person.suppressed:
                return None
            return views.customer_view(person)

    def anonymous_view(self, site_id: str) -> list[JsonObject]:
        with self._lock:
            return [entry.view() for entry in self._ws(site_id).anonymous]

    def objects_view(self, site_id: str) -> list[JsonObject]:
        with self._lock:
            return views.objects_view(self._ws(site_id))

    def deliveries_view(self, site_id: str) -> list[JsonObject]:
        with self._lock:
            return views.deliveries_view(self._ws(site_id))

    def sends_view(self, site_id: str) -> list[JsonObject]:
        """The transactional emails the workspace queued, oldest first."""
        with self._lock:
            return [send.view() for send in self._ws(site_id).sends.values()]

    def workspace_view(self, site_id: str) -> JsonObject:
        with self._lock:
            workspace = self.workspace(site_id)
            assert workspace is not None
            return {
                "site_id": site_id,
                "region": workspace.region,
                "environment_id": self.environment_id(site_id),
                "transactional_templates": [
                    {"id": t.id, "name": t.name, "subject": t.subject}
                    for t in workspace.transactional_templates
                ],
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
        """Forget every person, object, send, event id and logged request; keep the
        workspaces (and their templates)."""
        with self._lock:
            self._data = {site: WorkspaceData() for site in self._data}
            self._requests.clear()
            self._sequence = 0
            self.faults.clear()
