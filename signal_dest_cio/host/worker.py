"""The delivery loop: stored events go to each integration in batches, in lane order,
and every outcome is acted on (see `settle.py`).

Order (SPEC 4.1): before a batch is sent, the integration's pending deliveries are
walked in ingestion order through a `LaneBarrier`. One that waits (for its retry,
or behind another) holds every identifier it touches; a due delivery that shares one
is held too, records what it waits for, and is looked at again when that is due or
settles. A settled delivery releases what waits behind it; a dead letter's release
is written into the held deliveries' history.

Isolation: in the background (`start()`), the worker runs on a thread of its own with
its own event loop, so delivery never delays the loop that answers ingestion and
admin calls, and each integration has its own task there: a vendor that hangs holds
up only its own integration. `run_once()` and `drain()` run rounds on the caller's
loop, for tests and tools.

While a round's requests are out, the rows after it are mapped for their lane keys
(`ahead.py`): the next walk takes those mappings instead of making them, and decides
exactly as it would have.

Deliveries are rows in the store, so a restarted host picks up where it stopped;
an event whose attempt was cut short is sent again with the same dedup id.

Many workers (host processes on one PostgreSQL database): a round runs only under
the integration's lease (`leasing.py`), so one worker at a time walks and sends an
integration; its settling writes are fenced by the lease.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import random
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import structlog

from .ahead import AHEAD_PAGE, MappedAhead
from .backoff import Clock, RetryPolicy, SystemClock
from .leasing import DEFAULT_LEASE_SECONDS, Leases, new_worker_id
from .pool import DestinationPool, outcome_dict, preview_requests
from .records import Delivery, Integration
from .settle import settle
from .store_api import HostStore, Lease, LeaseLost
from .walk import walk
from .worker_process import WorkerProcess

DEFAULT_BATCH_SIZE = 100
SWITCH_INTERVAL_SECONDS = 0.0005
DEFAULT_POLL_SECONDS = 1.0
STORE_THREADS = 16

_log = structlog.get_logger("signal_dest_cio.host", component="worker")

T = TypeVar("T")


class DeliveryWorker:
    def __init__(
        self,
        store: HostStore,
        pool: DestinationPool,
        *,
        policy: RetryPolicy | None = None,
        clock: Clock | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        rng: random.Random | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        worker_id: str | None = None,
    ) -> None:
        self.store = store
        self.leases = Leases(store, worker_id or new_worker_id(), lease_seconds)
        self.pool = pool
        self.ahead = MappedAhead(pool.lane_keys, pool.handed)
        self.policy = policy or RetryPolicy()
        self.clock = clock or SystemClock()
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.rng = rng
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakes: dict[str, asyncio.Event] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._supervisor_wake: asyncio.Event | None = None
        # Set (by `create_app(worker_process=True)`): start() runs this worker in a
        # process of its own on the same database instead (worker_process.py).
        self.child: WorkerProcess | None = None

    def active(self) -> list[Integration]:
        return [i for i in self.store.list_integrations() if i.enabled and not i.paused]

    async def run_once(self) -> int:
        """One round per active integration, side by side; how many deliveries were tried."""
        active = self.active()
        self.leases.beat([i.id for i in active])
        done = await asyncio.gather(*(self.deliver_round(i) for i in active))
        return sum(done)

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

    # -- one round of one integration ---------------------------------------------------

    async def deliver_round(self, integration: Integration) -> int:
        """Claim due deliveries in lane order, send them, settle them; how many were tried."""
        return await self._round(integration) or 0

    async def _round(self, integration: Integration) -> int | None:
        """A round under the integration's lease; None when another worker has it."""
        if not await _off_loop(self.store.due_deliveries, integration.id, self.clock.now(), 1):
            return 0
        lease = await _off_loop(self.leases.acquire, integration.id)
        if lease is None:
            return None
        try:
            return await self._leased_round(integration, lease)
        except LeaseLost:
            _log.warning("another worker took the integration over", integration=integration.id)
            self.leases.lost(integration.id)
            return None

    async def _leased_round(self, integration: Integration, lease: Lease) -> int:
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
            self.store.set_paused(integration.id, reason, self.clock.now(), lease=lease)
            return 0
        due, touched, unwalked = await _off_loop(self._prepare, integration.id, destination, lease)
        if not due:
            return len(touched)
        secrets = self.pool.secrets_of(integration.destination, revision.config)
        outcomes = await self._send(integration.id, destination, due, unwalked, lease)
        now = self.clock.now()
        pause: dict[str, Any] | None = None
        for delivery, outcome in zip(due, outcomes, strict=True):
            result = outcome_dict(outcome, secrets)
            # What a delivered event became is worked out when someone looks (the
            # deliveries API); only what needs a look now is previewed here, off the hot path.
            requests = (
                None
                if result.get("kind") in ("delivered", "filtered")
                else preview_requests(destination, delivery.event, secrets)
            )
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
        await _off_loop(self._write_back, integration.id, due, now, pause, revision.number, lease)
        _log_round(integration.id, due, pause)
        return len(due)

    async def _send(
        self,
        integration_id: str,
        destination: Any,
        due: list[Delivery],
        unwalked: list[Delivery],
        lease: Lease,
    ) -> list[Any]:
        """The round's outcomes; while its requests are out, the rows after it are mapped
        (first those the walk read and did not need, then further ones)."""
        sending = asyncio.ensure_future(
            self.leases.guard(
                lease, _deliver(destination, [self.pool.handed(destination, d) for d in due])
            )
        )
        now = self.clock.now()

        async def read(after_seq: int) -> list[Delivery]:
            return await _off_loop(
                self.store.due_deliveries, integration_id, now, AHEAD_PAGE, after_seq
            )

        try:
            await self.ahead.map_while(
                integration_id,
                destination,
                unwalked,
                due[-1].seq,
                read,
                sending,
                self.batch_size,
            )
        except asyncio.CancelledError:
            sending.cancel()
            await asyncio.wait([sending])
            raise
        except Exception as error:  # mapping ahead only saves time: the round goes on
            self.ahead.forget(integration_id)
            _log.warning("mapping ahead failed", error=type(error).__name__)
        return await sending

    def _prepare(
        self, integration_id: str, destination: Any, lease: Lease
    ) -> tuple[list[Delivery], list[Delivery], list[Delivery]]:
        """The walk, what it changed written back, and what it chose marked as claimed;
        and the rows it read after the batch was full (not looked at)."""
        due, touched, unwalked = walk(
            self.store,
            self.pool,
            integration_id,
            destination,
            now=self.clock.now(),
            batch_size=self.batch_size,
            early=self.ahead.take(integration_id, destination),
            owner=self.leases.owner,
        )
        if touched:
            self.store.save_deliveries(touched, self.clock.now(), lease=lease)
        if due:
            self.store.mark_claimed(lease, [d.id for d in due])
        return due, touched, unwalked

    def _write_back(
        self,
        integration_id: str,
        due: list[Delivery],
        now: float,
        pause: dict[str, Any] | None,
        revision: int,
        lease: Lease,
    ) -> None:
        """A round's outcomes stored, what waited behind the settled ones freed, a pause."""
        self.store.save_deliveries(due, now, lease=lease)
        settled = [d for d in due if d.status != "pending"]
        self.store.release_held(
            [d.id for d in settled],
            now,
            [d.id for d in settled if d.status == "dead_lettered"],
            lease=lease,
        )
        latest = self.store.get_integration(integration_id)
        if pause is not None and latest is not None and latest.revision == revision:
            # (a revision posted while this batch was out is left to prove itself)
            self.store.set_paused(integration_id, pause, now, lease=lease)

    # -- in the background: a thread, a loop, a task per integration ---------------------

    def start(self) -> None:
        if self.child is not None:
            self.child.start()
            return
        if self._thread is not None:
            return
        # The worker's thread shares the GIL with the server's loop: every store call the
        # API makes gives the GIL up and waits for it back, up to the switch interval
        # (5 ms) each time while the worker maps and encodes. A shorter interval keeps
        # ingestion latency from growing with the worker's batch size (bench section 7).
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_SECONDS))
        loop = asyncio.new_event_loop()
        # Store calls and shared pacing run on threads of this loop (`_off_loop`): enough
        # of them that integrations waiting on the database never queue behind each other.
        loop.set_default_executor(
            concurrent.futures.ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="signal-store")
        )
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name="signal-delivery-worker", daemon=True
        )
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._supervise(), loop)
        self.store.subscribe(self.wake)  # work another process stored wakes this one too

    def wake(self) -> None:
        """Thread-safe: look for work now rather than at the next poll."""
        if self.child is not None:
            self.child.wake()
            return
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closing meanwhile
                loop.call_soon_threadsafe(self._wake_all)

    def _wake_all(self) -> None:
        for event in [*self._wakes.values(), self._supervisor_wake]:
            if event is not None:
                event.set()

    async def stop(self) -> None:
        if self.child is not None:
            await asyncio.to_thread(self.child.stop)
            return
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._shutdown(), loop))
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join)
        loop.close()
        self._loop = self._thread = None

    async def _shutdown(self) -> None:
        tasks = [*self._tasks.values(), *asyncio.all_tasks() - {asyncio.current_task()}]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        await asyncio.to_thread(self.leases.release_all)  # others take over at once
        await self.pool.aclose()  # its clients belong to this loop

    async def _supervise(self) -> None:
        """Keep one task per active integration; notice new, paused and resumed ones."""
        self._supervisor_wake = asyncio.Event()
        while True:
            self._supervisor_wake.clear()
            try:
                active = {i.id for i in self.active()}
                await _off_loop(self.leases.beat, sorted(active))
            except Exception:
                _log.exception("could not list integrations")
                active = set(self._tasks)
            for integration_id, task in list(self._tasks.items()):
                if task.done() or integration_id not in active:
                    task.cancel()
                    del self._tasks[integration_id]
                    if integration_id not in active:  # paused, disabled or removed
                        await _off_loop(self.leases.release, integration_id)
                        self.ahead.forget(integration_id)
            for integration_id in active - set(self._tasks):
                self._tasks[integration_id] = asyncio.create_task(
                    self._run_integration(integration_id), name=f"deliver-{integration_id}"
                )
            await _idle(self._supervisor_wake, self.poll_seconds)

    async def _run_integration(self, integration_id: str) -> None:
        wake = self._wakes.setdefault(integration_id, asyncio.Event())
        while True:
            wake.clear()
            integration = self.store.get_integration(integration_id)
            if integration is None or not integration.enabled or integration.paused:
                self.leases.release(integration_id)
                self.ahead.forget(integration_id)  # (its rows mapped ahead are let go)
                return  # the supervisor starts it again when it is active
            try:
                tried = await self._round(integration)
                if tried:
                    continue
                # Another worker's (None): look again at the next poll, in case it dies.
                due = None if tried is None else self.store.next_due_at([integration_id])
            except Exception:
                _log.exception("delivery round failed", integration=integration_id)
                due = None
            delay = self.poll_seconds
            if due is not None:
                delay = min(delay, max(due - self.clock.now(), 0.0))
            await _idle(wake, delay)


async def _off_loop(function: Callable[..., T], *args: Any) -> T:
    """Run a store call on a thread, so one integration waiting on the database never
    stalls the others on this loop. Once started it runs to its end: a round cancelled
    meanwhile is cancelled after the write, never halfway through or after the store
    has been closed."""
    future = asyncio.get_running_loop().run_in_executor(None, functools.partial(function, *args))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        raise


async def _idle(wake: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), timeout=max(seconds, 0.0))


def _log_round(integration_id: str, due: Sequence[Delivery], pause: dict[str, Any] | None) -> None:
    kinds: dict[str, int] = {}
    for delivery in due:
        kinds[delivery.status] = kinds.get(delivery.status, 0) + 1
    _log.info(
        "deliveries",
        integration=integration_id,
        events=len(due),
        statuses=kinds,
        paused=pause["code"] if pause else None,
    )


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
