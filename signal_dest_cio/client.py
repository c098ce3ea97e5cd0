"""httpx delivery to the Track API: batching, pacing, 207 items, splitting, region check.

The client sees operations and rendered requests, never canonical event fields.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from .config import CustomerIoConfig
from .operations import Mapped, Operation
from .outcomes import Outcome, classify_status, transport_failure, worst
from .render import BATCH_PATH, Request, dump_json, encode_body, render_v1, render_v2

MAX_BATCH_BYTES = 500 * 1024
MAX_ITEM_BYTES = 32 * 1024
MAX_CONCURRENT_REQUESTS = 16
REGION_PATH = "/api/v1/accounts/region"
USER_AGENT = "signal-dest-cio/0.1"

_BATCH_OPEN, _BATCH_CLOSE = b'{"batch":[', b"]}"


class RequestPacer:
    """Spaces request starts at least 1/rate seconds apart, so no second holds more than rate.

    No lock is needed: taking a slot never awaits, and asyncio runs one task at a time.
    """

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self._next_slot = 0.0

    async def wait(self) -> None:
        now = time.monotonic()
        slot = max(now, self._next_slot)
        self._next_slot = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


# One pacer per workspace (Track host + site id), shared by every client in this process.
_PACERS: dict[tuple[str, str, float], RequestPacer] = {}


def pacer_for(config: CustomerIoConfig) -> RequestPacer:
    key = (config.track_base_url, config.site_id, config.max_requests_per_second)
    if key not in _PACERS:
        _PACERS[key] = RequestPacer(config.max_requests_per_second)
    return _PACERS[key]


@dataclass(slots=True)
class _Item:
    event: int  # index of the event in the deliver() call
    body: bytes


@dataclass(slots=True)
class _Batch:
    items: list[_Item] = field(default_factory=list)
    size: int = len(_BATCH_OPEN) + len(_BATCH_CLOSE)  # bytes of body(), kept as items are added

    @classmethod
    def of(cls, items: list[_Item]) -> _Batch:
        batch = cls()
        batch.add(items)
        return batch

    def fits(self, items: list[_Item]) -> bool:
        extra = sum(len(item.body) + 1 for item in items)
        return not self.items or self.size + extra <= MAX_BATCH_BYTES

    def add(self, items: list[_Item]) -> None:
        self.items.extend(items)
        self.size += sum(len(item.body) + 1 for item in items)

    def body(self) -> bytes:
        return _BATCH_OPEN + b",".join(item.body for item in self.items) + _BATCH_CLOSE

    def events(self) -> list[int]:
        return list(dict.fromkeys(item.event for item in self.items))


def pack_batches(items_per_event: list[list[_Item]]) -> list[_Batch]:
    """Fill /api/v2/batch bodies up to 500 KB, keeping each event's items together."""
    batches: list[_Batch] = []
    current = _Batch()
    for items in items_per_event:
        if not items:
            continue
        if not current.fits(items):
            batches.append(current)
            current = _Batch()
        current.add(items)
    if current.items:
        batches.append(current)
    return batches


def _identities(mapped: Mapped) -> list[str]:
    """Every person and anonymous id an event touches (a merge touches two people)."""
    keys = []
    for op in mapped.operations:
        keys += ["p:" + p.value for p in (op.person, op.secondary) if p is not None]
        if op.anonymous_id:
            keys.append("a:" + op.anonymous_id)
    return keys


def ordered_chains(events: Sequence[Mapped]) -> list[list[int]]:
    """Event indexes grouped so that events sharing any identity are sent in input order.

    Identities are joined transitively (union-find): an anonymous page, the identify
    that merges it, and an alias folding an old id into that person form one chain.
    Events with nothing in common run side by side.
    """
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    owners = []
    for index, mapped in enumerate(events):
        keys = _identities(mapped) or [f"e:{index}"]
        for key in keys[1:]:
            parent[root(key)] = root(keys[0])
        owners.append(keys[0])
    chains: dict[str, list[int]] = {}
    for index, key in enumerate(owners):
        chains.setdefault(root(key), []).append(index)
    return list(chains.values())


class TrackClient:
    """One long-lived httpx.AsyncClient per configured destination."""

    def __init__(
        self, config: CustomerIoConfig, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.config = config
        self.http = httpx.AsyncClient(
            base_url=config.track_base_url,
            auth=httpx.BasicAuth(config.site_id, config.tracking_api_key.get_secret_value()),
            timeout=httpx.Timeout(config.timeout_seconds),
            limits=httpx.Limits(
                max_connections=MAX_CONCURRENT_REQUESTS,
                max_keepalive_connections=MAX_CONCURRENT_REQUESTS,
            ),
            follow_redirects=False,  # data residency: never follow to another region
            headers={"User-Agent": USER_AGENT, "Content-Type": "application/json"},
            transport=transport,
        )
        self.pacer = pacer_for(config)
        self.slots = asyncio.Semaphore(MAX_CONCURRENT_REQUESTS)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def send(self, events: Sequence[Mapped]) -> list[Outcome]:
        """Deliver mapped events; one outcome per event, in input order."""
        return await _Delivery(self, events).run()

    async def workspace_region(self) -> str | None:
        """The region `GET /api/v1/accounts/region` names, or None when it cannot say."""
        await self.pacer.wait()
        try:
            response = await self.http.get(REGION_PATH)
            region = response.json().get("region") if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError, AttributeError):
            return None
        return region if region in ("us", "eu") else None


class _Delivery:
    """One send() call: its results and its pause, apart from any other call in flight."""

    def __init__(self, client: TrackClient, events: Sequence[Mapped]) -> None:
        self.client = client
        self.events = events
        self.results: list[list[Outcome]] = [[] for _ in events]
        # The first refusal (401/403/redirect), explained; set the moment it arrives,
        # so nothing of this call that has not started yet is sent after it.
        self.halted: asyncio.Future[Outcome] | None = None
        self.region_lookup: asyncio.Future[str | None] | None = None

    async def run(self) -> list[Outcome]:
        if self.client.config.api == "v1":
            await self._send_v1()
        else:
            await self._send_v2()
        return [
            _finish(mapped, outcomes)
            for mapped, outcomes in zip(self.events, self.results, strict=True)
        ]

    # -- v1: one request per operation, an event's operations in order -------------

    async def _send_v1(self) -> None:
        async def run(chain: list[int]) -> None:
            for index in chain:
                await self._send_operations(self.events[index].operations, self.results[index])

        await asyncio.gather(*(run(chain) for chain in ordered_chains(self.events)))

    async def _send_operations(
        self, operations: Sequence[Operation], outcomes: list[Outcome]
    ) -> None:
        for op in operations:
            request = render_v1(op)
            content = None if request.json is None else encode_body(request.json, op)
            outcome, _ = await self.request(request, content)
            outcomes.append(outcome)
            if outcome.kind != "delivered":
                return  # later operations of this event wait for its retry

    # -- v2: items packed into /api/v2/batch requests ------------------------------

    async def _send_v2(self) -> None:
        items_per_event: list[list[_Item]] = []
        oversized: dict[int, list[Operation]] = {}
        for index, mapped in enumerate(self.events):
            items = []
            for op in mapped.operations:
                body = encode_body(render_v2(op), op)
                if len(body) > MAX_ITEM_BYTES:
                    oversized.setdefault(index, []).append(op)  # v2 refuses it; v1 takes it
                else:
                    items.append(_Item(index, body))
            items_per_event.append(items)
        await asyncio.gather(
            *(self._send_batch(batch) for batch in pack_batches(items_per_event)),
            *(self._send_operations(ops, self.results[i]) for i, ops in oversized.items()),
        )

    async def _send_batch(self, batch: _Batch) -> None:
        outcome, response = await self.request(Request("POST", BATCH_PATH), batch.body())
        events = batch.events()
        if outcome.status in (400, 413) and len(events) > 1:
            # One bad event must not take good ones down: split on event boundaries.
            half = set(events[: len(events) // 2])
            first = _Batch.of([item for item in batch.items if item.event in half])
            second = _Batch.of([item for item in batch.items if item.event not in half])
            await asyncio.gather(self._send_batch(first), self._send_batch(second))
            return
        failed = _item_errors(response) if outcome.status == 207 else {}
        for position, item in enumerate(batch.items):
            if position in failed:
                self.results[item.event].append(failed[position].model_copy(update={"status": 207}))
            else:
                self.results[item.event].append(outcome)

    # -- one HTTP request -----------------------------------------------------------

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
                response = await client.http.request(request.method, request.path, content=content)
            except httpx.TimeoutException:
                return transport_failure("timeout", "no answer from Customer.io in time"), None
            except httpx.TransportError as error:
                message = f"could not reach Customer.io ({type(error).__name__})"
                return transport_failure("connection_error", message), None
        outcome = classify_status(
            response.status_code, response.content, response.headers.get("Retry-After")
        )
        if outcome.kind == "config_error":
            explained = asyncio.ensure_future(self._explain_refusal(outcome))
            self.halted = self.halted or explained
            outcome = await explained
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


def _finish(mapped: Mapped, outcomes: list[Outcome]) -> Outcome:
    outcome = worst(outcomes) if outcomes else Outcome(kind="delivered", code="ok")
    return outcome.model_copy(update={"message_id": mapped.message_id, "warnings": mapped.warnings})


def _item_errors(response: httpx.Response | None) -> dict[int, Outcome]:
    """The items a 207 lists as failed, by batch_index, each as a rejected outcome."""
    try:
        errors = response.json().get("errors") if response is not None else None
    except (ValueError, AttributeError):
        errors = None
    failed: dict[int, Outcome] = {}
    for error in errors if isinstance(errors, list) else []:
        if not isinstance(error, dict) or not isinstance(error.get("batch_index"), int):
            continue
        field = error.get("field") if isinstance(error.get("field"), str) else None
        message = str(error.get("message") or error.get("reason") or "invalid item")
        failed[error["batch_index"]] = Outcome(
            kind="rejected",
            code="item_rejected",
            message=f"{field}: {message}" if field else message,
            field=field,
        )
    return failed
