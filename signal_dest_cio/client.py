"""httpx delivery to the Track API: lanes in order, batching, pacing, splitting, region check.

The client sees operations and rendered requests, never canonical event fields.

Order (SPEC 4.1): the events of one lane (`lanes.lane_groups`) are sent one request
after the other, in input order, whichever path each operation takes: a v2 batch, the
v1 request of an item over 32 KB, `/api/v2/entity`. Lanes run side by side. Batches
are filled from the lanes that are ready: each lane hands its next run of batchable
items to `_Batcher`, which sends once every lane is waiting on something, so batches
stay full without any lane overtaking itself. When a request of a lane ends as
`retry` (or `config_error`), that lane's later events are not sent: they come back
`retry` with code `held`, naming the message id they wait for.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from urllib.request import getproxies

import httpx

from .app_api import AppClient
from .batcher import UNSETTLED, Batcher, Submission
from .batches import MAX_BATCH_BYTES, MAX_ITEM_BYTES, Item, extra_bytes
from .config import CustomerIoConfig
from .lanes import lane_groups, lane_keys
from .operations import Mapped, Operation
from .outcomes import Outcome, classify_status, for_event, transport_failure, worst
from .pacing import PacerFactory, RequestPacer, pacer_for, pacer_of
from .render import Request, dump_json
from .routes import Direct, Route, route_for
from .transports import ShardedTransport

__all__ = ["MAX_BATCH_BYTES", "MAX_ITEM_BYTES", "RequestPacer", "TrackClient", "pacer_for"]

# Requests in flight per client. v1 sends one request per operation, so at 30 ms a round
# trip this is its ceiling (64 / 0.031 s, about 2,000 requests/s); the workspace's own
# budget (`max_requests_per_second`, 100 by default) is kept by the pacer below it.
MAX_CONCURRENT_REQUESTS = 64
REGION_PATH = "/api/v1/accounts/region"
USER_AGENT = "signal-dest-cio/0.1"


class TrackClient:
    """One long-lived httpx.AsyncClient per configured destination."""

    def __init__(
        self,
        config: CustomerIoConfig,
        transport: httpx.AsyncBaseTransport | None = None,
        pacers: PacerFactory | None = None,
        app_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self._app_transport = app_transport
        self._app: AppClient | None = None
        self.route: Route = route_for(config)
        if transport is None and not getproxies() and sys.platform != "win32":
            # No proxy to honour (httpx reads them from the environment only for its own
            # transport): small pools, one TLS context (`transports`). Their streams need
            # `loop.add_reader`, which Windows' default (proactor) loop lacks: there,
            # httpx's own transport.
            transport = ShardedTransport(MAX_CONCURRENT_REQUESTS)
        timeout = httpx.Timeout(config.timeout_seconds)
        self.http = httpx.AsyncClient(
            base_url=self.route.base_url,
            auth=self.route.auth,
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=MAX_CONCURRENT_REQUESTS,
                max_keepalive_connections=MAX_CONCURRENT_REQUESTS,
            ),
            follow_redirects=False,  # data residency: never follow to another region
            headers={
                "User-Agent": USER_AGENT,
                "Content-Type": "application/json",
                **self.route.headers,
            },
            transport=transport,
        )
        # Deliveries skip the client's per-request work (merging URL, headers, cookies,
        # the auth flow): each request is built whole, with the headers the client would
        # send, and handed to the transport (`transport`; the client's own when it has
        # proxies to go through). Redirects are never followed either way.
        self._transport = transport
        self._base = str(self.http.base_url).rstrip("/")
        self._headers = _request_headers(self.http, self.route.auth)
        self._timeout = {"timeout": timeout.as_dict()}
        self.pacer = pacer_of(config, pacers)  # pacers: a host's, shared by its processes
        self.slots = asyncio.Semaphore(MAX_CONCURRENT_REQUESTS)
        # Lane key -> the latest send() call still in flight that touches it (SPEC 4.1
        # across overlapping calls); a call takes its keys out as it finishes.
        self.in_flight: dict[str, _Delivery] = {}

    async def aclose(self) -> None:
        await self.http.aclose()
        if self._app is not None:
            await self._app.aclose()

    def app(self) -> AppClient:
        """The App API client, for the sends of the `transactional` map (made when needed)."""
        if self._app is None:
            self._app = AppClient(self.config, self._app_transport)
        return self._app

    async def send(self, events: Sequence[Mapped]) -> list[Outcome]:
        """Deliver mapped events; one outcome per event, in input order.

        Overlapping calls keep order per identity as if made one after the other."""
        return await _Delivery(self, events).run()

    async def post(self, method: str, path: str, content: bytes | None) -> httpx.Response:
        """One request, built whole and sent through the transport; its body read."""
        request = httpx.Request(
            method,
            _url(self._base + path),
            headers=self._headers,
            content=content,
            extensions=self._timeout,
        )
        if self._transport is None:
            return await self.http.send(request)
        response = await self._transport.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    async def workspace_region(self) -> str | None:
        """The region `GET /api/v1/accounts/region` names, or None when it cannot say."""
        await self.pacer.wait()
        try:
            response = await self.http.get(REGION_PATH)
            region = response.json().get("region") if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError, AttributeError):
            return None
        return region if region in ("us", "eu") else None


@dataclass(slots=True)
class _Step:
    """One operation of one event: a batch item, or (item None) a request of its own."""

    event: int
    op: Operation
    item: Item | None
    direct: Direct | None = None


def _steps(index: int, mapped: Mapped, route: Route) -> list[_Step]:
    steps = []
    for op in mapped.operations:
        body, direct = route.step(op)
        steps.append(_Step(index, op, None if body is None else Item(index, body), direct))
    return steps


def _renumbered(step: _Step, index: int) -> _Step:
    """`step` as the step of the event at `index` (of a call's later part)."""
    item = None if step.item is None else Item(index, step.item.body)
    return _Step(index, step.op, item, step.direct)


def _batchable_run(steps: list[_Step], start: int) -> list[_Step]:
    """The batchable steps from `start` on that fit one batch, cut between events."""
    run: list[_Step] = []
    size = 0
    for step in steps[start:]:
        if step.item is None:
            break
        size += len(step.item.body) + 1
        if size > MAX_BATCH_BYTES - 16 and run and run[-1].event != step.event:
            break
        run.append(step)
    return run


# A lane that joins the first batch whole: its events, their steps, its submission.
_Simple = tuple[list[int], list[_Step], Submission]
# A lane that shares identifiers with earlier calls in flight: its events, its keys, those calls.
_Waiting = tuple[list[int], set[str], list["_Delivery"]]


class _Delivery:
    """One send() call: its lanes, its results and its pause, apart from any other call."""

    def __init__(
        self,
        client: TrackClient,
        events: Sequence[Mapped],
        *,
        ordered: bool = True,
        rendered: Sequence[tuple[list[_Step], tuple[str, ...]]] | None = None,
    ) -> None:
        self.client = client
        self.events = events
        # A call's own later part is given its events' steps and lane keys as the call
        # worked them out.
        self.rendered = rendered
        # Across calls (`ordered`; a call's own later part is not): its lanes and each
        # event's keys, from which `unsettled` is worked out once the call is over.
        self.ordered = ordered
        self.lanes: list[list[int]] = []
        self.keys: dict[int, tuple[str, ...]] = {}
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.results: list[list[Outcome]] = [[] for _ in events]
        self.sent: list[bool] = [False] * len(events)
        self.helper_warnings: list[list[str]] = [[] for _ in events]
        # The first refusal (401/403/redirect), explained; set the moment it arrives,
        # so nothing of this call that has not started yet is sent after it.
        self.halted: asyncio.Future[Outcome] | None = None
        self.region_lookup: asyncio.Future[str | None] | None = None
        self.batcher = Batcher(self)

    async def run(self) -> list[Outcome]:
        try:
            steps = await self._send_all()
            return self._outcomes(steps)
        finally:
            self._finish_call()

    async def _send_all(self) -> dict[int, list[_Step]]:
        steps, simple, queue, waiting = self._plan()
        later = asyncio.ensure_future(self._after_earlier(waiting, steps)) if waiting else None
        workers = min(len(queue), MAX_CONCURRENT_REQUESTS)
        self.batcher.runnable = workers
        try:
            self.batcher.maybe_flush()  # at once when no lane needs scheduling
            await asyncio.gather(*(self._work(queue, steps) for _ in range(workers)))
            while self.batcher.tasks:
                await asyncio.gather(*list(self.batcher.tasks))
            for indexes, lane_steps, submission in simple:
                stopped_by = self._record(lane_steps, submission.outcomes)
                if stopped_by is not None:
                    await self._hold(indexes, stopped_by)
            if later is not None:
                await later
        finally:
            self.batcher.close()
            if later is not None:
                later.cancel()
        return steps

    def _steps_and_keys(self) -> tuple[dict[int, list[_Step]], list[tuple[str, ...]]]:
        """Each event's steps and lane keys: for a call's later part, as the call worked
        them out; else made now (an event that cannot be encoded gets its refusal, and
        neither)."""
        if self.rendered is not None:
            steps = {
                index: [_renumbered(step, index) for step in event_steps]
                for index, (event_steps, _) in enumerate(self.rendered)
            }
            return steps, [event_keys for _, event_keys in self.rendered]
        route = self.client.route
        steps = {}
        for index, mapped in enumerate(self.events):
            try:
                steps[index] = _steps(index, mapped, route)
            except (ValueError, UnicodeError) as error:  # the mapper should have refused it
                self.results[index].append(
                    Outcome(
                        kind="rejected",
                        code="invalid_text",
                        message=f"the event cannot be encoded as JSON ({type(error).__name__})",
                    )
                )
        return steps, [lane_keys(self.events[index]) for index in steps]

    def _plan(
        self,
    ) -> tuple[dict[int, list[_Step]], list[_Simple], deque[list[int]], list[_Waiting]]:
        """Each event's steps; the lanes that simply join the first batch; the rest, queued
        longest first for the workers; the lanes that wait for earlier calls first."""
        steps, keys = self._steps_and_keys()
        lanes = lane_groups(keys)
        order = list(steps)
        in_flight = self.client.in_flight
        # A lane whose every item fits one batch needs no scheduling: it joins the first
        # flush as it is, and is settled from its batch's answer (most lanes are such).
        simple: list[_Simple] = []
        scheduled: list[list[int]] = []
        waiting: list[_Waiting] = []
        if self.ordered:
            self.keys = dict(zip(order, keys, strict=True))
        look_back = self.ordered and bool(in_flight)  # no earlier call out: nothing to wait for
        for lane in lanes:
            indexes = [order[i] for i in lane]
            if self.ordered:
                self.lanes.append(indexes)
            if look_back:
                lane_keyset = {key for i in lane for key in keys[i]}
                earlier = {id(c): c for k in lane_keyset if (c := in_flight.get(k)) is not None}
                if earlier:
                    waiting.append((indexes, lane_keyset, list(earlier.values())))
                    continue
            lane_steps = [step for index in indexes for step in steps[index]]
            items = [step.item for step in lane_steps if step.item is not None]
            if (
                len(items) == len(lane_steps)
                and (size := extra_bytes(items)) <= MAX_BATCH_BYTES - 16
            ):
                simple.append((indexes, lane_steps, Submission(items, None, size=size)))
            else:
                scheduled.append(indexes)
        if self.ordered:  # after the lookups: a call never waits for itself
            for event_keys in keys:
                for key in event_keys:
                    in_flight[key] = self
        self.batcher.pending.extend(submission for _, _, submission in simple)
        # Workers take whole lanes, the longest first (they set how long the call takes),
        # so a lane never waits for a request slot behind hundreds of one-event lanes,
        # and each lane's requests still go one after the other.
        queue = deque(sorted(scheduled, key=lambda lane: -sum(len(steps[i]) for i in lane)))
        return steps, simple, queue, waiting

    async def _after_earlier(self, waiting: list[_Waiting], steps: dict[int, list[_Step]]) -> None:
        """The lanes that share identifiers with earlier calls: once those are over, each
        goes, or is held behind what an earlier call left unsettled."""
        await asyncio.wait({call.finished for _, _, calls in waiting for call in calls})
        released: list[int] = []
        for indexes, keys, calls in waiting:
            blocker = next(
                (call.unsettled[key] for call in calls for key in keys if key in call.unsettled),
                None,
            )
            if blocker is None:
                released.extend(indexes)
                continue
            for index in indexes:
                self.results[index].append(_held(f"{blocker} (sent by an earlier call)"))
        if not released:
            return
        if self.halted is not None:
            refusal = await self.halted
            for index in released:
                self.results[index].append(refusal)
            return
        released.sort()
        rest = _Delivery(
            self.client,
            [self.events[i] for i in released],
            ordered=False,
            rendered=[(steps[i], self.keys[i]) for i in released],
        )
        try:
            await rest._send_all()
        finally:
            self.halted = self.halted or rest.halted
            for position, index in enumerate(released):
                self.results[index].extend(rest.results[position])
                self.helper_warnings[index].extend(rest.helper_warnings[position])
                self.sent[index] = self.sent[index] or rest.sent[position]

    def _finish_call(self) -> None:
        """The call is over: its keys out of the in-flight map, and the calls that wait
        on it woken (they read `unsettled`)."""
        if not self.ordered:
            return
        in_flight = self.client.in_flight
        for event_keys in self.keys.values():
            for key in event_keys:
                if in_flight.get(key) is self:
                    del in_flight[key]
        self.finished.set_result(None)

    @cached_property
    def unsettled(self) -> dict[str, str]:
        """Once the call is over: each key of a lane it left unsettled (all its keys, if it
        was cut short) -> the message id that lane waits for. Worked out only when a later
        call asks, so calls that nothing overlaps never pay for it."""
        unsettled: dict[str, str] = {}
        for indexes in self.lanes:
            blocker = next(
                (
                    self.events[index].message_id or "an event with no message id"
                    for index in indexes
                    if self._left_unsettled(index)
                ),
                None,
            )
            if blocker is not None:
                for index in indexes:
                    unsettled.update(dict.fromkeys(self.keys[index], blocker))
        return unsettled

    def _left_unsettled(self, event: int) -> bool:
        """Whether the event ended as something that holds its lane, or never got that far."""
        results = self.results[event]
        if not results:
            return not self.sent[event]
        return any(outcome.kind in UNSETTLED for outcome in results)

    def _outcomes(self, steps: dict[int, list[_Step]]) -> list[Outcome]:
        for index in steps:
            if not self.sent[index] and not self.results[index]:  # a safety net, never hit
                self.results[index].append(
                    transport_failure("not_sent", "the event was not sent; it will be again")
                )
        return [
            _finish(mapped, outcomes, helpers)
            for mapped, outcomes, helpers in zip(
                self.events, self.results, self.helper_warnings, strict=True
            )
        ]

    def _failed(self, event: int) -> bool:
        return any(outcome.kind != "delivered" for outcome in self.results[event])

    async def _work(self, queue: deque[list[int]], steps_of: dict[int, list[_Step]]) -> None:
        """One worker: lanes from the queue, each to its end, until none is left."""
        try:
            while queue:
                await self._run_lane(queue.popleft(), steps_of)
        finally:
            self.batcher.lane_done()  # the worker, not a lane: it is runnable until here

    async def _run_lane(self, lane: list[int], steps_of: dict[int, list[_Step]]) -> None:
        steps = [step for index in lane for step in steps_of[index]]
        position = 0
        stopped_by: int | None = None
        while position < len(steps) and stopped_by is None:
            if self._failed(steps[position].event):  # its later steps wait for its retry
                position += 1
                continue
            run = _batchable_run(steps, position) or steps[position : position + 1]
            position += len(run)
            outcomes = await self._send_run(run)
            stopped_by = self._record(run, outcomes)
        if stopped_by is not None:
            await self._hold(lane, stopped_by)

    def _record(self, run: list[_Step], outcomes: list[Outcome | None]) -> int | None:
        """Note each step's outcome; the first event whose outcome holds the lane, or None."""
        stopped_by: int | None = None
        for step, outcome in zip(run, outcomes or [None] * len(run), strict=True):
            if outcome is None:  # not sent: a split half behind a failed one
                continue
            self.sent[step.event] = True
            if step.op.helper and outcome.kind == "rejected":
                # A refused helper (a device PUT answered 400) costs the event nothing:
                # the event itself still goes, with a warning.
                self.helper_warnings[step.event].append(
                    f"helper_refused:{step.op.action}:{outcome.status or outcome.code}"
                )
                continue
            self.results[step.event].append(outcome)
            if outcome.kind in UNSETTLED and stopped_by is None:
                stopped_by = step.event
        return stopped_by

    async def _send_run(self, run: list[_Step]) -> list[Outcome | None]:
        if run[0].item is not None:
            return await self.batcher.submit([step.item for step in run if step.item])
        self.batcher.runnable -= 1
        self.batcher.maybe_flush()
        try:
            assert run[0].direct is not None
            request, content = run[0].direct
            if request.api == "app":
                outcome = await self.app_request(request)
            else:
                outcome, _ = await self.request(request, content)
        finally:
            self.batcher.runnable += 1
        return [outcome]

    async def _hold(self, lane: list[int], blocker: int) -> None:
        """The lane's events that were never sent wait for `blocker` to settle."""
        waits_for = self.events[blocker].message_id or f"event #{blocker} of this call"
        for index in lane:
            if index == blocker or self.sent[index] or self.results[index]:
                continue
            if self.halted is not None:
                self.results[index].append(await self.halted)
                continue
            self.results[index].append(_held(waits_for))

    # -- one HTTP request -----------------------------------------------------------

    async def app_request(self, request: Request) -> Outcome:
        """An App API call in a lane (a transactional send): never after a refusal, and never
        repeated blindly (`app_api`: a send whose fate is unknown is `outcome_unknown`)."""
        if self.halted is not None:
            return await self.halted
        try:
            app = self.client.app()
        except ValueError as error:  # no api_key: the send cannot be made here
            return Outcome(kind="rejected", code="missing_api_key", message=str(error))
        return (await app.send_prepared(dict(request.json or {}))).outcome

    async def request(
        self, request: Request, content: bytes | None = None
    ) -> tuple[Outcome, httpx.Response | None]:
        """Send one request, paced and bounded; classify what comes back."""
        client = self.client
        if content is None and request.json is not None:
            content = dump_json(request.json)
        async with client.slots:
            # Checked after each wait: a refusal may have paused the call meanwhile.
            if self.halted is None:
                await client.pacer.wait()
            if self.halted is not None:
                return await self.halted, None
            try:
                response = await client.post(request.method, request.path, content)
            except httpx.TimeoutException:
                return transport_failure("timeout", "no answer from Customer.io in time"), None
            except httpx.TransportError as error:
                message = f"could not reach Customer.io ({type(error).__name__})"
                return transport_failure("connection_error", message), None
        outcome = classify_status(
            response.status_code, response.content, response.headers.get("Retry-After")
        )
        if outcome.kind == "config_error" and client.route.region_lookup:
            explained = asyncio.ensure_future(self._explain_refusal(outcome))
            self.halted = self.halted or explained
            outcome = await explained
        elif outcome.kind == "config_error":
            self.halted = self.halted or _settled(outcome)
        return outcome, response

    async def _explain_refusal(self, outcome: Outcome) -> Outcome:
        """After a 401/403 or redirect, ask once which region the workspace really is in."""
        if self.region_lookup is None:
            self.region_lookup = asyncio.ensure_future(self.client.workspace_region())
        region = await self.region_lookup
        configured = self.client.config.region.value
        if region is None or region == configured:
            return outcome
        return outcome.model_copy(
            update={
                "code": "region_mismatch",
                "message": (
                    f"this workspace is in the {region.upper()} region but the destination "
                    f"is configured for {configured.upper()}: set region to {region!r}"
                ),
            }
        )


@lru_cache(maxsize=4096)
def _url(text: str) -> httpx.URL:
    """URLs parsed once (httpx checks every part): the same people's paths come back."""
    return httpx.URL(text)


def _request_headers(http: httpx.AsyncClient, auth: httpx.Auth) -> httpx.Headers:
    """The headers `http` sends with every request, its authorization included (asked of
    the auth itself, as the client would)."""
    headers = httpx.Headers(http.headers)
    probe = next(auth.sync_auth_flow(httpx.Request("GET", http.base_url)))
    if "Authorization" in probe.headers:
        headers["Authorization"] = probe.headers["Authorization"]
    return headers


def _held(waits_for: str) -> Outcome:
    return Outcome(
        kind="retry",
        code="held",
        message=f"held behind {waits_for}, an earlier event of the same person that has "
        "not been delivered yet",
    )


def _settled(outcome: Outcome) -> asyncio.Future[Outcome]:
    future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
    future.set_result(outcome)
    return future


def _finish(mapped: Mapped, outcomes: list[Outcome], helper_warnings: list[str]) -> Outcome:
    outcome = worst(outcomes) if outcomes else Outcome(kind="delivered", code="ok")
    warnings = (*mapped.warnings, *helper_warnings)
    return for_event(outcome, mapped.message_id, warnings)
