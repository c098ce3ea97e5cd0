"""Faults on demand: the next N matching requests answer a status, arrive late, or get dropped.

`POST /_emulator/faults` takes one `Fault` as JSON:

- `{"kind": "status", "status": 429, "count": 2, "retry_after": "2"}`: the next two
  requests answer 429 (with `Retry-After: 2`) and change nothing.
- `{"kind": "slow", "seconds": 3, "count": 1}`: the next request is applied, but its
  answer comes `seconds` late (past a short client timeout).
- `{"kind": "drop", "count": 1}`: the next request is not applied and the connection
  closes with no response at all.

`region` ("us" / "eu") and `path_prefix` (default `/api/`, the Track API; `/v1/` aims
at the App API) narrow which requests a fault hits. How "slow" and "drop" look to a
client depends on how the emulator runs; see `middleware.py`.
"""

from __future__ import annotations

import threading
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FaultKind = Literal["status", "slow", "drop"]
TRACK_PREFIX = "/api/"


class Fault(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: FaultKind
    count: int = Field(default=1, ge=1, le=100_000)
    status: int | None = Field(default=None, ge=400, le=599)
    retry_after: str | None = None
    seconds: float = Field(default=0.0, ge=0, le=600)
    region: Literal["us", "eu"] | None = None
    path_prefix: str = TRACK_PREFIX

    @field_validator("retry_after", mode="before")
    @classmethod
    def _retry_after_as_text(cls, value: Any) -> Any:
        return (
            str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
        )

    @model_validator(mode="after")
    def _status_for_status_faults(self) -> Self:
        if self.kind == "status" and self.status is None:
            raise ValueError("a status fault needs `status` (e.g. 429, 500, 503)")
        if self.kind == "slow" and self.seconds <= 0:
            raise ValueError("a slow fault needs `seconds` > 0")
        return self

    def matches(self, region: str, path: str) -> bool:
        return (self.region is None or self.region == region) and path.startswith(self.path_prefix)


class FaultQueue:
    """Pending faults, first added first used; safe to use from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[tuple[Fault, int]] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._pending.append((fault, fault.count))

    def take(self, region: str, path: str) -> Fault | None:
        """The first pending fault for this request, one use of it spent."""
        with self._lock:
            for index, (fault, left) in enumerate(self._pending):
                if fault.matches(region, path):
                    if left > 1:
                        self._pending[index] = (fault, left - 1)
                    else:
                        del self._pending[index]
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                fault.model_dump(exclude_none=True) | {"remaining": left}
                for fault, left in self._pending
            ]
