"""What the admin and ingestion routes do, apart from HTTP: the host's operations (what
the responses show of them is `views.py`)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from ..harness import RecordingTransport, sample_event
from ..logging import redact_with
from .admin_ops import (
    duplicate_install,
    refuse_if_deleted,
    replay_report,
    twin_of,
    verification_view,
)
from .configs import overlay, storable, validate
from .errors import ApiError, not_found
from .intake import derived_message_id, event_list, may_hold_surrogates, within_depth
from .intake import message_id as message_id_of
from .pool import DestinationPool, outcome_dict, plain, rule_trace
from .records import Integration, Revision
from .settle import settle
from .store_api import HostStore, StaleRevision
from .views import Views, iso
from .worker import DeliveryWorker

MAX_REVISION_RETRIES = 5
VERIFY_SECONDS = 5.0  # the longest an install or revision waits on the connection check
DEFAULT_VARIANT = "default"  # what the Signal docs' install call names, and what none means


def _variant_defaults(key: str, entry: Mapping[str, Any], variant: str) -> dict[str, Any]:
    found = [v for v in entry.get("variants", []) if v.get("key") == variant]
    if not found:
        known = ", ".join(str(v.get("key")) for v in entry.get("variants", []))
        raise ApiError(
            422,
            "invalid_variant",
            f"no variant {variant!r} for {key}; expected one of: {known}",
            [{"field": "variant", "code": "unknown_variant", "message": "unknown variant"}],
        )
    return dict(found[0].get("default_config") or {})


def _same(given: Any, preset: Any) -> bool:
    """A config value agrees with a variant's: strings compare as the model reads them."""
    if isinstance(given, str) and isinstance(preset, str):
        return given.strip().lower() == preset.strip().lower()
    return bool(given == preset)


def stale_revision(base: int, current: int) -> ApiError:
    return ApiError(
        409,
        "stale_revision",
        f"this change builds on revision {base}, but the current revision is {current}: "
        "read it, and send the change again based on it",
        [{"field": "base_revision", "code": "stale", "current_revision": current}],
    )


class Host:
    def __init__(
        self,
        store: HostStore,
        destinations: dict[str, Any],
        pool: DestinationPool,
        worker: DeliveryWorker,
    ) -> None:
        self.store = store
        self.destinations = destinations
        self.pool = pool
        self.worker = worker
        self.secret_fields = pool.secret_fields
        self._revision_locks: dict[str, asyncio.Lock] = {}
        self.views = Views(store, pool)

    def now(self) -> float:
        return self.worker.clock.now()

    # -- catalog and install ------------------------------------------------------------

    def catalog(self) -> list[dict[str, Any]]:
        return [self.catalog_entry(key) for key in sorted(self.destinations)]

    def catalog_entry(self, key: str) -> dict[str, Any]:
        if key not in self.destinations:
            raise not_found("catalog entry", key)
        entry: dict[str, Any] = self.destinations[key].catalog_entry()
        return entry

    async def install(
        self,
        key: str,
        *,
        name: str,
        variant: str | None,
        config: Mapping[str, Any],
        delivery_mode: str,
        verify: bool | None,
        allow_duplicate: bool = False,
    ) -> dict[str, Any]:
        """`verify`: None (the default) runs the connection check and reports a failure
        in the answer's `warnings`; True refuses a failing config (422); False skips it."""
        entry = self.catalog_entry(key)
        keys = {v.get("key") for v in entry.get("variants", [])}
        if variant is None and DEFAULT_VARIANT in keys:
            variant = DEFAULT_VARIANT  # a missing variant means `default`
        defaults = {} if variant is None else _variant_defaults(key, entry, variant)
        conflicts = [
            name
            for name, value in defaults.items()
            if name in config and not _same(config[name], value)
        ]
        if conflicts:
            said = ", ".join(f"{name}={defaults[name]!r}" for name in conflicts)
            raise ApiError(
                422,
                "variant_conflict",
                f"variant {variant!r} sets {said}, and the config says otherwise: "
                "leave those keys out, or choose the variant that matches",
                [
                    {
                        "field": f"config.{name}",
                        "code": "variant_conflict",
                        "message": f"variant {variant!r} sets {name} to {defaults[name]!r}",
                    }
                    for name in conflicts
                ],
            )
        config = await self._checked_config(key, {**defaults, **config}, verify=False)
        twin = None if allow_duplicate else twin_of(self.store, key, config)
        if twin is not None:
            raise duplicate_install(twin)  # it would deliver every event twice
        report = None if verify is False else await self._verify(key, config, refuse=bool(verify))
        integration = self.store.create_integration(
            "int_" + secrets.token_hex(8),
            name=name,
            destination=key,
            variant=variant,
            delivery_mode=delivery_mode,
            config=config,
            now=self.now(),
        )
        return {**self.views.integration(integration), **verification_view(report)}

    async def _checked_config(
        self, key: str, raw: Mapping[str, Any], verify: bool
    ) -> dict[str, Any]:
        destination = self.destinations[key]
        config = storable(validate(destination, raw, self.secret_fields[key]))
        if verify:
            await self._verify(key, config)
        return config

    async def _verify(
        self, key: str, config: dict[str, Any], *, refuse: bool = True
    ) -> dict[str, Any] | None:
        """Run the destination's connection check; refuse the config when it fails (or,
        with `refuse=False`, hand the failing report back)."""
        instance = self.pool.build(key, config)
        try:
            check = getattr(instance, "check", None)
            if check is None:  # a destination without a connection check
                if refuse:
                    raise ApiError(422, "verification_failed", f"{key} has no connection check")
                return None
            try:
                # A vendor that never answers must not hang the install (httpx's own
                # timeouts bound real networks, not every transport a host is given).
                data: dict[str, Any] = plain(await asyncio.wait_for(check(), VERIFY_SECONDS))
            except TimeoutError:
                data = _failed_check(f"no answer within {VERIFY_SECONDS:.0f} s")
            except Exception as error:  # a check that breaks is a failed check, not a 500
                data = _failed_check(f"the check itself failed ({type(error).__name__})")
        finally:
            await instance.aclose()
        if data.get("ok") or not refuse:
            return data
        failed = [check for check in data.get("checks", []) if not check.get("ok")]
        details = [
            {"check": check.get("name"), "message": check.get("message", "")} for check in failed
        ]
        said = "; ".join(f"{d['check']}: {d['message']}" for d in details) or "check failed"
        raise ApiError(422, "verification_failed", f"the connection check failed: {said}", details)

    # -- integrations --------------------------------------------------------------------

    def integration(self, integration_id: str) -> Integration:
        found = self.store.get_integration(integration_id)
        if found is None:
            raise not_found("integration", integration_id)
        return found

    def writable(self, integration_id: str) -> Integration:
        """The integration, to change: a deleted one is a 409 (admin_ops.py)."""
        return refuse_if_deleted(self.integration(integration_id))

    def delete(self, integration_id: str) -> dict[str, Any]:
        """Deleted, kept as a record; its pending deliveries dead-lettered (admin_ops.py).
        Deleting it again changes nothing."""
        integration = self.integration(integration_id)
        pending = self.store.delete_integration(integration.id, self.now())
        self._revision_locks.pop(integration.id, None)
        return {
            **self.views.integration(self.integration(integration.id)),
            "dead_lettered": pending,
        }

    def current_revision(self, integration: Integration) -> Revision:
        return self.views.current_revision(integration)

    async def new_revision(
        self,
        integration_id: str,
        changes: Mapping[str, Any],
        verify: bool,
        base: int | None = None,
    ) -> dict[str, Any]:
        """A new revision: `changes` overlaid on the current config (SPEC 6).

        With `base` (If-Match or `base_revision`), it must still be the current revision,
        else a 409 names the current one. Without, the changes are laid over whatever is
        current when they are stored: two operators changing different keys at once both
        keep their change (the overlay is redone on the newer revision), never one lost.
        """
        lock = self._revision_locks.setdefault(integration_id, asyncio.Lock())
        async with lock:  # in this process, one at a time; across processes, the retry
            return await self._new_revision(integration_id, changes, verify, base)

    async def _new_revision(
        self, integration_id: str, changes: Mapping[str, Any], verify: bool, base: int | None
    ) -> dict[str, Any]:
        for _ in range(MAX_REVISION_RETRIES):
            integration = self.writable(integration_id)
            current = self.current_revision(integration)
            if base is not None and base != current.number:
                raise stale_revision(base, current.number)
            fields = self.secret_fields[integration.destination]
            merged = overlay(current.config, changes, fields)
            config = await self._checked_config(integration.destination, merged, verify)
            try:
                self.store.add_revision(integration.id, config, self.now(), current.number)
            except StaleRevision as stale:
                if base is not None:
                    raise stale_revision(base, stale.current) from None
                continue  # someone else's revision landed meanwhile: overlay on it
            self.worker.wake()
            return self.views.integration(self.integration(integration.id))
        raise ApiError(409, "revision_conflict", "the integration kept changing; try again")

    def set_enabled(self, integration_id: str, enabled: bool) -> dict[str, Any]:
        integration = self.writable(integration_id)
        self.store.set_enabled(integration.id, enabled, self.now())
        self.worker.wake()
        return self.views.integration(self.integration(integration.id))

    def resume(self, integration_id: str) -> dict[str, Any]:
        integration = self.writable(integration_id)
        self.store.set_paused(integration.id, None, self.now())
        self.worker.wake()
        return self.views.integration(self.integration(integration.id))

    def revisions(self, integration_id: str) -> list[dict[str, Any]]:
        integration = self.integration(integration_id)
        return [
            self.views.revision(integration, r) for r in self.store.list_revisions(integration.id)
        ]

    # -- events --------------------------------------------------------------------------

    def ingest(self, body: bytes, request_key: str | None = None) -> dict[str, Any]:
        """Store each event before answering; the worker fans them out later.

        `request_key` (the Idempotency-Key, else the signature) names the request, so
        the events it holds without a messageId get ids a retry of it reproduces.
        """
        items = event_list(body)
        surrogates_possible = may_hold_surrogates(body)
        too_deep_possible = not within_depth(body)  # a byte scan, not a walk per event
        received_at = iso(self.now())
        problems: list[dict[str, Any]] = []
        ready: list[tuple[str, Any]] = []
        for index, item in enumerate(items):
            given, problem = message_id_of(
                item, surrogates_possible=surrogates_possible, too_deep_possible=too_deep_possible
            )
            if problem is not None:
                problems.append({"index": index, **problem})
                continue
            if given is None:
                given = (
                    derived_message_id(request_key, index)
                    if request_key
                    else f"host-{uuid.uuid4()}"
                )
                item = {**item, "messageId": given}
            if "receivedAt" not in item and "received_at" not in item:
                # The event's time when it carries none (SPEC 3.1), and its dedup id's.
                item = {**item, "receivedAt": received_at}
            ready.append((given, item))
        if problems and not ready:
            raise ApiError(
                400, "invalid_events", "no event in the request could be accepted", problems
            )
        accepted = self.store.ingest(ready, self.now())
        self.worker.wake()
        return {
            "message_ids": [a.message_id for a in accepted],
            "accepted": sum(not a.duplicate for a in accepted),
            "duplicates": [a.message_id for a in accepted if a.duplicate],
            "rejected": problems,
        }

    # -- deliveries, test events and replay ----------------------------------------------

    def deliveries(
        self, integration_id: str, status: str | None, cursor: str | None, limit: int
    ) -> dict[str, Any]:
        integration = self.integration(integration_id)
        before: int | None = None
        if cursor is not None:
            if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 18:
                raise ApiError(
                    422,
                    "invalid_cursor",
                    "cursor must be a next_cursor from an earlier page",
                    [{"field": "query.cursor", "code": "invalid_cursor", "message": "bad cursor"}],
                )
            before = int(cursor)
        page = self.store.list_deliveries(
            integration.id, status=status, before_id=before, limit=limit + 1
        )
        more = len(page) > limit
        page = page[:limit]
        return {
            "data": [self.views.delivery(d) for d in page],
            "next_cursor": str(page[-1].id) if more else None,
            "counts": self.store.counts(integration.id),
        }

    async def send_test_event(
        self, integration_id: str, kind: str, user_id: str, event: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """Deliver one event now, recording each request sent and each status returned."""
        integration = self.writable(integration_id)
        revision = self.current_revision(integration)
        message_id = f"test-{uuid.uuid4()}"
        body: dict[str, Any]
        if event is not None:
            body = dict(event)
        else:  # a sample, stamped now so its dedup id carries a real time
            body = sample_event(kind, user_id) | {"timestamp": iso(self.now())}
        _, problem = message_id_of(body)
        if problem is not None:
            raise ApiError(422, problem["code"], problem["message"])
        # Its own namespace and its own id, so its dedup id in Customer.io is its own too:
        # a test never uses up the messageId of a real event (which would then be a
        # duplicate here and in Customer.io). A given messageId is kept in the record.
        given = body.get("messageId", body.get("message_id"))
        body = {k: v for k, v in body.items() if k != "message_id"} | {"messageId": message_id}
        context = body.get("context")
        if given is not None and (context is None or isinstance(context, dict)):
            body["context"] = {**(context or {}), "test_of_message_id": given}
        delivery = self.store.record_test_event(integration.id, message_id, body, self.now())
        factory = self.pool.transport_factory
        recorder = RecordingTransport(factory() if factory else httpx.AsyncHTTPTransport())
        secrets_ = self.pool.secrets_of(integration.destination, revision.config)
        trace: Any = None
        outcome: Any = {
            "kind": "rejected",
            "code": "test_interrupted",
            "message": "the test event was cut short before it had an outcome",
        }
        try:
            instance = self.pool.build(integration.destination, revision.config, transport=recorder)
            try:
                [outcome] = await instance.deliver([body])
                trace = rule_trace(instance, body, secrets_)  # mapping rules (SPEC 12)
            finally:
                await instance.aclose()
        finally:
            # Whatever happened (a destination that raised, a client that went away),
            # the test row ends here: never a pending row nothing will pick up.
            requests = [
                {"method": e.method, "url": e.url, "json": e.body, "status": e.status}
                for e in recorder.exchanges
            ]
            now = self.now()
            settle(
                delivery,
                outcome_dict(outcome, secrets_),
                now=now,
                policy=self.worker.policy,
                revision=revision.number,
                requests=_scrubbed(requests, secrets_),
                test=True,
            )
            self.store.save_deliveries([delivery], now)
        view = self.views.delivery(delivery)
        return view if trace is None else {**view, "mapping": trace}

    def replay(
        self,
        integration_id: str,
        delivery_ids: Sequence[int] | None,
        message_ids: Sequence[str] | None,
    ) -> dict[str, Any]:
        integration = self.writable(integration_id)
        named = delivery_ids is not None or message_ids is not None
        found = (
            self.store.delivery_states(integration.id, delivery_ids or (), message_ids or ())
            if named
            else []
        )
        requeued = self.store.requeue_dead_letters(
            integration.id, self.now(), delivery_ids, message_ids
        )
        self.worker.wake()
        return replay_report(requeued, found, delivery_ids, message_ids)


def _failed_check(message: str) -> dict[str, Any]:
    return {"ok": False, "checks": [{"name": "connection", "ok": False, "message": message}]}


def _scrubbed(value: list[Any], secrets_: frozenset[str]) -> list[Any]:
    cleaned: list[Any] = redact_with(value, secrets_)
    return cleaned
