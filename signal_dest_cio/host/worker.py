"""The delivery loop: stored events go to each integration in batches, and every outcome
is acted on.

- `delivered`, `filtered`: done.
- `retry`: again after exponential backoff with full jitter (at least `retry_after`),
  until the attempt or age budget is spent; then dead-lettered (`retries_exhausted`).
- `rejected`: dead-lettered at once, with the destination's reason.
- `config_error`: the integration pauses; its events stay queued until a new
  revision or a resume. Such an attempt does not use the retry budget.

Deliveries are rows in the store, so a restarted host picks up where it stopped;
an event whose attempt was cut short is sent again with the same dedup id.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import structlog

from ..logging import redact_with
from .backoff import Clock, RetryPolicy, SystemClock
from .configs import remember_secrets, secret_values
from .records import Delivery, Integration, Revision
from .store import Store

TransportFactory = Callable[[], httpx.AsyncBaseTransport]

DEFAULT_BATCH_SIZE = 100
DEFAULT_POLL_SECONDS = 1.0

_log = structlog.get_logger("signal_dest_cio.host", component="worker")


class DestinationPool:
    """One destination instance (so one HTTP client) per integration revision."""

    def __init__(
        self,
        store: Store,
        classes: dict[str, Any],
        secret_fields: dict[str, frozenset[str]],
        transport_factory: TransportFactory | None = None,
    ) -> None:
        self.store = store
        self.classes = classes
        self.secret_fields = secret_fields
        self.transport_factory = transport_factory
        self._live: dict[str, tuple[int, Any]] = {}

    def build(self, destination: str, config: dict[str, Any], transport: Any | None = None) -> Any:
        """A fresh instance; the caller closes it. `transport` overrides the Track transport."""
        remember_secrets(config, self.secret_fields[destination])
        options: dict[str, Any] = {}
        if self.transport_factory is not None:
            options = {
                "transport": self.transport_factory(),
                "app_transport": self.transport_factory(),
            }
        if transport is not None:
            options["transport"] = transport
        return self.classes[destination](config, **options)

    async def current(self, integration: Integration) -> tuple[Any, Revision]:
        revision = self.store.get_revision(integration.id, integration.revision)
        assert revision is not None
        cached = self._live.get(integration.id)
        if cached is not None and cached[0] == revision.number:
            return cached[1], revision
        if cached is not None:
            await cached[1].aclose()
        instance = self.build(integration.destination, revision.config)
        self._live[integration.id] = (revision.number, instance)
        return instance, revision

    def secrets_of(self, destination: str, config: dict[str, Any]) -> frozenset[str]:
        return secret_values(config, self.secret_fields[destination])

    async def aclose(self) -> None:
        live, self._live = self._live, {}
        for _, instance in live.values():
            await instance.aclose()


def outcome_dict(outcome: Any, secrets: frozenset[str]) -> dict[str, Any]:
    """A destination's outcome as plain JSON, with any secret value scrubbed."""
    scrubbed: dict[str, Any] = redact_with(plain(outcome), secrets)
    return scrubbed


def preview_requests(destination: Any, event: Any, secrets: frozenset[str]) -> list[Any] | None:
    """The vendor requests an event becomes (the destination's preview), redacted."""
    try:
        data = plain(destination.preview(event))
        requests: list[Any] = redact_with(list(data.get("requests") or []), secrets)
    except Exception:  # a preview is for people; its failure must not stop delivery
        return None
    return requests


def plain(value: Any) -> dict[str, Any]:
    """A destination's result (a pydantic model, something with `as_json`, a mapping) as a dict."""
    if hasattr(value, "as_json"):
        data: dict[str, Any] = value.as_json()
    elif hasattr(value, "model_dump"):
        data = value.model_dump(mode="json")
    else:
        data = dict(value)
    return data


def settle(
    delivery: Delivery,
    outcome: dict[str, Any],
    *,
    now: float,
    policy: RetryPolicy,
    revision: int,
    requests: list[Any] | None,
    rng: random.Random | None = None,
    test: bool = False,
) -> bool:
    """Record one attempt on the delivery; True when the integration must pause.

    A test event is tried once: whatever did not deliver is dead-lettered, and it
    never pauses the integration.
    """
    kind = outcome.get("kind")
    counted = kind != "config_error"
    delivery.attempts += int(counted)
    delivery.outcome = outcome
    delivery.response_status = outcome.get("status")
    delivery.revision = revision
    delivery.requests = requests
    entry: dict[str, Any] = {
        "at": now,
        "kind": kind,
        "code": outcome.get("code"),
        "status": outcome.get("status"),
        "retry_after": outcome.get("retry_after"),
        "revision": revision,
    }
    delivery.history.append(entry)
    reason: dict[str, Any] | None = None
    pause = False
    if kind in ("delivered", "filtered"):
        delivery.status = str(kind)
    elif test or kind not in ("retry", "config_error"):
        reason = {"code": outcome.get("code"), "message": outcome.get("message", "")}
    elif kind == "config_error":
        delivery.next_attempt_at = now  # as soon as the integration resumes
        pause = True
    elif policy.exhausted(delivery.attempts, now - delivery.queued_at):
        reason = {
            "code": "retries_exhausted",
            "message": f"gave up after {delivery.attempts} attempts over "
            f"{now - delivery.queued_at:.0f}s; last: {outcome.get('code')}: "
            f"{outcome.get('message', '')}",
        }
    else:
        retry_after = outcome.get("retry_after")
        wait = float(retry_after) if isinstance(retry_after, int | float) else None
        delay = policy.delay(delivery.attempts, wait, rng)
        delivery.next_attempt_at = now + delay
        entry["next_attempt_at"] = delivery.next_attempt_at
    if reason is not None:
        delivery.status = "dead_lettered"
        entry["reason"] = reason
    return pause


class DeliveryWorker:
    def __init__(
        self,
        store: Store,
        pool: DestinationPool,
        *,
        policy: RetryPolicy | None = None,
        clock: Clock | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.pool = pool
        self.policy = policy or RetryPolicy()
        self.clock = clock or SystemClock()
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.rng = rng
        self._lock = asyncio.Lock()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def active(self) -> list[Integration]:
        return [i for i in self.store.list_integrations() if i.enabled and not i.paused]

    async def run_once(self) -> int:
        """Deliver one batch of due events per active integration; how many were tried."""
        async with self._lock:
            done = await asyncio.gather(*(self._deliver_due(i) for i in self.active()))
        return sum(done)

    async def _deliver_due(self, integration: Integration) -> int:
        due = self.store.due_deliveries(integration.id, self.clock.now(), self.batch_size)
        if not due:
            return 0
        try:
            destination, revision = await self.pool.current(integration)
        except Exception as error:  # e.g. a stored config the installed destination refuses
            reason = {
                "code": "config_unusable",
                "message": f"the destination cannot be built from revision "
                f"{integration.revision} ({type(error).__name__}); post a new revision",
                "at": self.clock.now(),
                "revision": integration.revision,
            }
            self.store.set_paused(integration.id, reason, self.clock.now())
            return 0
        secrets = self.pool.secrets_of(integration.destination, revision.config)
        outcomes = await _deliver(destination, [d.event for d in due])
        now = self.clock.now()
        pause: dict[str, Any] | None = None
        for delivery, outcome in zip(due, outcomes, strict=True):
            result = outcome_dict(outcome, secrets)
            requests = preview_requests(destination, delivery.event, secrets)
            if settle(
                delivery,
                result,
                now=now,
                policy=self.policy,
                revision=revision.number,
                requests=requests,
                rng=self.rng,
            ):
                pause = pause or {
                    "code": result.get("code"),
                    "message": result.get("message", ""),
                    "at": now,
                    "revision": revision.number,
                    "message_id": delivery.message_id,
                }
        self.store.save_deliveries(due, now)
        latest = self.store.get_integration(integration.id)
        if pause is not None and latest is not None and latest.revision == revision.number:
            # (a revision posted while this batch was out is left to prove itself)
            self.store.set_paused(integration.id, pause, now)
        kinds: dict[str, int] = {}
        for delivery in due:
            kinds[delivery.status] = kinds.get(delivery.status, 0) + 1
        _log.info(
            "deliveries",
            integration=integration.id,
            events=len(due),
            statuses=kinds,
            paused=pause["code"] if pause else None,
        )
        return len(due)

    async def drain(self, max_rounds: int = 100_000) -> None:
        """Deliver until nothing is left to try, sleeping on the clock until each retry is due."""
        for _ in range(max_rounds):
            if await self.run_once():
                continue
            due = self.store.next_due_at([i.id for i in self.active()])
            if due is None:
                return
            await self.clock.sleep(max(due - self.clock.now(), 0.0))
        raise RuntimeError("the delivery queue did not drain")

    # -- the background loop ---------------------------------------------------------

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._run_forever(), name="signal-delivery-worker")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run_forever(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            try:
                if await self.run_once():
                    continue
                due = self.store.next_due_at([i.id for i in self.active()])
            except Exception:
                _log.exception("delivery round failed")
                due = None
            delay = self.poll_seconds
            if due is not None:
                delay = min(delay, max(due - self.clock.now(), 0.0))
            await self._idle(delay)

    async def _idle(self, seconds: float) -> None:
        assert self._wake is not None
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        _, pending = await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()


async def _deliver(destination: Any, events: Sequence[Any]) -> list[Any]:
    """The destination's outcomes; a destination that fails is retried, not trusted."""
    try:
        outcomes = list(await destination.deliver(list(events)))
    except Exception as error:
        _log.exception("destination failed", error=type(error).__name__)
        outcomes = []
    if len(outcomes) != len(events):
        failure = {
            "kind": "retry",
            "code": "destination_error",
            "message": "the destination failed to report an outcome for this event",
        }
        return [failure] * len(events)
    return outcomes
