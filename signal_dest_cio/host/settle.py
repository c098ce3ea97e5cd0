"""What one outcome does to a stored delivery: done, retried later, held, paused or dead.

- `delivered`, `filtered`: done.
- `retry`: again after backoff (at least `retry_after`), until the attempt or age budget
  is spent; then dead-lettered (`retries_exhausted`).
- `retry` with code `held`: not an attempt. The event was not sent because an earlier
  event of its lane had not settled (SPEC 4.1); it waits for that event, using no
  attempt and no age budget.
- `rejected`: dead-lettered at once, with the destination's reason.
- `config_error`: the integration pauses; the event stays queued for a new revision or
  a resume. Not an attempt either.

The age budget counts only the time an event spends waiting for its own retries
(from a failed attempt to the retry it was given), never time held, paused or
disabled: an integration resumed after a day still has every retry it had.
"""

from __future__ import annotations

import random
from typing import Any

from .backoff import RetryPolicy
from .records import Delivery

HELD = "held"


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
    """Record one outcome on the delivery; True when the integration must pause.

    A test event is tried once: whatever did not deliver is dead-lettered, and it
    never pauses the integration.
    """
    kind = outcome.get("kind")
    if kind == "retry" and outcome.get("code") == HELD and not test:
        _held(delivery, outcome, now)
        return False
    delivery.retry_seconds += _backoff_spent(delivery, now)
    delivery.attempts += int(kind != "config_error")
    delivery.outcome = outcome
    delivery.response_status = outcome.get("status")
    delivery.revision = revision
    delivery.requests = requests
    delivery.held_by = None
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
    elif policy.exhausted(delivery.attempts, delivery.retry_seconds):
        reason = {
            "code": "retries_exhausted",
            "message": f"gave up after {delivery.attempts} attempts and "
            f"{delivery.retry_seconds:.0f}s of retrying; last: {outcome.get('code')}: "
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


def _backoff_spent(delivery: Delivery, now: float) -> float:
    """Seconds since the last failed attempt, up to the retry time it was given."""
    for entry in reversed(delivery.history):
        if entry.get("kind") in ("retry", "config_error", "delivered", "rejected"):
            until = entry.get("next_attempt_at")
            if entry.get("kind") != "retry" or not isinstance(until, int | float):
                return 0.0
            return max(0.0, min(now, float(until)) - float(entry["at"]))
    return 0.0


def _held(delivery: Delivery, outcome: dict[str, Any], now: float) -> None:
    """Not sent: it waits, due again at once (the worker's barrier decides when it goes)."""
    delivery.next_attempt_at = now
    last = delivery.history[-1] if delivery.history else {}
    if last.get("kind") != HELD:
        delivery.history.append(
            {"at": now, "kind": HELD, "code": HELD, "message": outcome.get("message", "")}
        )


def hold(delivery: Delivery, by: tuple[int, str, float], now: float) -> None:
    """The worker found an earlier event of this one's lane unsettled: wait behind it.

    `by` is (delivery id, message id, when it is next tried) of the event at the head
    of the lane; this one is looked at again then, or when that one settles.
    """
    blocker_id, message_id, until = by
    delivery.next_attempt_at = max(until, now)
    if delivery.held_by != blocker_id:
        delivery.held_by = blocker_id
        delivery.held_by_message_id = message_id
        delivery.history.append(
            {
                "at": now,
                "kind": HELD,
                "code": HELD,
                "held_by": {"delivery_id": blocker_id, "message_id": message_id},
                "message": f"waits for {message_id}, an earlier event of the same person",
            }
        )
