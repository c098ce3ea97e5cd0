"""Filling /api/v2/batch (or /v1/batch) requests from the lanes that are ready (SPEC 4.1).

Each lane hands its next run of batchable items to the `Batcher` as a `Submission` and
waits; the batcher sends once every lane is waiting on something, so batches stay full
without any lane overtaking itself. A whole-batch 400/413 is split: different lanes'
halves side by side, one lane's halves one after the other.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .batches import MAX_BATCH_BYTES, Batch, Item, extra_bytes, item_errors
from .outcomes import Outcome, transport_failure
from .render import Request

if TYPE_CHECKING:
    from .client import _Delivery

UNSETTLED = ("retry", "config_error")  # outcomes that hold the rest of a lane


@dataclass(slots=True)
class Submission:
    """A lane's run of items for the next batch, and the outcome of each (None: not sent)."""

    items: list[Item]
    done: asyncio.Future[list[Outcome | None]] | None  # None: no lane task waits on it
    outcomes: list[Outcome | None] = field(default_factory=list)
    size: int = -1  # what the items add to a batch (`extra_bytes`), counted once

    def __post_init__(self) -> None:
        if self.size < 0:
            self.size = extra_bytes(self.items)


class Batcher:
    """Fills /api/v2/batch requests from the lanes that are ready.

    `runnable` counts the lanes that are not waiting on anything. A lane that submits
    items, starts a request of its own or finishes lowers it; when it reaches zero,
    everything submitted is packed (each submission whole, in one batch) and sent.
    Lanes in one flush are distinct, so its batches go side by side.
    """

    def __init__(self, delivery: _Delivery) -> None:
        self.delivery = delivery
        self.runnable = 0
        self.pending: list[Submission] = []
        self.tasks: set[asyncio.Task[None]] = set()

    async def submit(self, items: list[Item]) -> list[Outcome | None]:
        done: asyncio.Future[list[Outcome | None]] = asyncio.get_running_loop().create_future()
        self.pending.append(Submission(items, done))
        self.runnable -= 1
        self.maybe_flush()
        return await done

    def lane_done(self) -> None:
        self.runnable -= 1
        self.maybe_flush()

    def maybe_flush(self) -> None:
        if self.runnable > 0 or not self.pending:
            return
        pending, self.pending = self.pending, []
        batches: list[list[Submission]] = []
        size = MAX_BATCH_BYTES  # forces a first batch
        for submission in pending:
            extra = submission.size
            if size + extra > MAX_BATCH_BYTES - 16:
                batches.append([])
                size = 16
            batches[-1].append(submission)
            size += extra
        for batch in batches:
            task = asyncio.create_task(self._send(batch))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _send(self, submissions: list[Submission]) -> None:
        try:
            await self._post(submissions)
        except Exception as error:  # a bug here must never read as "delivered"
            failed = transport_failure("client_error", f"the batch failed ({type(error).__name__})")
            for submission in submissions:
                submission.outcomes = [failed] * len(submission.items)
        finally:
            # Counted back before the lanes wake, so the first to submit again waits
            # for the others rather than sending a batch of one.
            self.runnable += sum(submission.done is not None for submission in submissions)
            for submission in submissions:
                if submission.done is not None and not submission.done.done():
                    submission.done.set_result(
                        submission.outcomes or [None] * len(submission.items)
                    )

    async def _post(self, submissions: list[Submission]) -> None:
        items = [item for submission in submissions for item in submission.items]
        outcome, response = await self.delivery.request(
            Request("POST", self.delivery.client.route.batch_path), Batch.of(items).body()
        )
        events = list(dict.fromkeys(item.event for item in items))
        if outcome.status in (400, 413) and len(events) > 1:
            await self._split(submissions, events)
            return
        failed = item_errors(response) if outcome.status == 207 else {}
        position = 0
        for submission in submissions:
            submission.outcomes = []
            for _ in submission.items:
                submission.outcomes.append(failed.get(position, outcome))
                position += 1

    async def _split(self, submissions: list[Submission], events: list[int]) -> None:
        """One bad event must not take good ones down: halve the batch and send again.

        Different lanes' halves go side by side; one lane's halves go one after the
        other, and the second waits for the first to settle.
        """
        if len(submissions) > 1:
            half = len(submissions) // 2
            await asyncio.gather(self._post(submissions[:half]), self._post(submissions[half:]))
            return
        [whole] = submissions
        first_events = set(events[: len(events) // 2])
        first = Submission([i for i in whole.items if i.event in first_events], whole.done)
        second = Submission([i for i in whole.items if i.event not in first_events], whole.done)
        await self._post([first])
        if not any(o is not None and o.kind in UNSETTLED for o in first.outcomes):
            await self._post([second])
        whole.outcomes = first.outcomes + (second.outcomes or [None] * len(second.items))

    def close(self) -> None:
        """The call is over: any request still out is cancelled, and the batcher lets go of
        its call (the two refer to each other; left so, a call's events, operations and
        outcomes would wait for the cyclic collector, which `deliver()` holds off)."""
        for task in self.tasks:
            task.cancel()
        del self.delivery
