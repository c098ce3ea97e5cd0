"""/api/v2/batch bodies: items packed up to 500 KB, and the items a 207 lists as failed."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from .outcomes import Outcome

MAX_BATCH_BYTES = 500 * 1024
MAX_ITEM_BYTES = 32 * 1024

_BATCH_OPEN, _BATCH_CLOSE = b'{"batch":[', b"]}"


@dataclass(slots=True)
class Item:
    event: int  # index of the event in the deliver() call
    body: bytes


@dataclass(slots=True)
class Batch:
    items: list[Item] = field(default_factory=list)
    size: int = len(_BATCH_OPEN) + len(_BATCH_CLOSE)  # bytes of body(), kept as items are added

    @classmethod
    def of(cls, items: list[Item]) -> Batch:
        batch = cls()
        batch.add(items)
        return batch

    def fits(self, items: list[Item]) -> bool:
        return not self.items or self.size + extra_bytes(items) <= MAX_BATCH_BYTES

    def add(self, items: list[Item]) -> None:
        self.items.extend(items)
        self.size += extra_bytes(items)

    def body(self) -> bytes:
        return _BATCH_OPEN + b",".join(item.body for item in self.items) + _BATCH_CLOSE

    def events(self) -> list[int]:
        return list(dict.fromkeys(item.event for item in self.items))


def extra_bytes(items: list[Item]) -> int:
    """What the items add to a batch body (each with its separating comma)."""
    return sum(len(item.body) + 1 for item in items)


def item_errors(response: httpx.Response | None) -> dict[int, Outcome]:
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
            status=207,
        )
    return failed
