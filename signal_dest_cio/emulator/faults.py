"""Faults on demand: the next N matching requests answer a status, arrive late, or get dropped.

`POST /_emulator/faults` takes one `Fault` as JSON:

- `{"kind": "status", "status": 429, "count": 2, "retry_after": "2"}`: the next two
  requests answer 429 (with `Retry-After: 2`) and change nothing.
- `{"kind": "slow", "seconds": 3, "count": 1}`: the next request is applied, but its
  answer comes `seconds` late (past a short client timeout).
- `{"kind": "drop", "count": 1}`: the next request is not applied and the connection
  closes with no response at all.

Which requests a fault hits (every given condition must hold):

- `region`: "us" or "eu", the host the request came to.
- `path_prefix` (default `/api/`, the Track API; `/v1/` aims at the App API and the
  Data Pipelines calls, `/v1/send/` at transactional sends only): the path starts
  with it.
- `path`: the path equals it exactly, as sent (percent-encoded, no query), e.g.
  `/api/v1/customers/a%2Fb`. With `path`, `path_prefix` is not applied unless it
  is given too (and then `path` must start with it).
- `method`: "PUT", "post", ... (case-insensitive; shown upper-case).
- `workspace`: a site_id; only requests whose credentials name it: the HTTP Basic
  user of a Track call (the key is not checked), a Data Pipelines key or an App API
  Bearer key of that workspace (looked up, never kept).
- `body_contains`: the raw request body (UTF-8) contains this text, e.g. a person's
  id, to fail just the one v2 batch that carries them.

A fault spends one use per request it hits; the first added pending fault that
matches is the one used. How "slow" and "drop" look to a client depends on how
the emulator runs; see `middleware.py`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FaultKind = Literal["status", "slow", "drop"]
TRACK_PREFIX = "/api/"


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What a fault may look at: where a request came, its method and path as sent,
    the site_id its Basic credentials name, and its body (None when not read)."""

    region: str
    method: str
    path: str
    site_id: str | None = None
    body: bytes | None = None


class Fault(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: FaultKind
    count: int = Field(default=1, ge=1, le=100_000)
    status: int | None = Field(default=None, ge=400, le=599)
    retry_after: str | None = None
    seconds: float = Field(default=0.0, ge=0, le=600)
    region: Literal["us", "eu"] | None = None
    path_prefix: str = TRACK_PREFIX
    path: str | None = Field(default=None, min_length=1, max_length=4096)
    method: str | None = Field(default=None, pattern=r"^[A-Za-z]{1,16}$")
    workspace: str | None = Field(default=None, min_length=1, max_length=256)
    body_contains: str | None = Field(default=None, min_length=1, max_length=10_000)

    @field_validator("retry_after", mode="before")
    @classmethod
    def _retry_after_as_text(cls, value: Any) -> Any:
        return (
            str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
        )

    @field_validator("method")
    @classmethod
    def _method_upper(cls, value: str | None) -> str | None:
        return None if value is None else value.upper()

    @field_validator("path")
    @classmethod
    def _path_as_sent(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith("/") or "?" in value):
            raise ValueError(
                "`path` is matched exactly as sent: it starts with `/`, is percent-encoded "
                "and has no query (e.g. /api/v1/customers/a%2Fb)"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.kind == "status" and self.status is None:
            raise ValueError("a status fault needs `status` (e.g. 429, 500, 503)")
        if self.kind == "slow" and self.seconds <= 0:
            raise ValueError("a slow fault needs `seconds` > 0")
        prefix_given = "path_prefix" in self.model_fields_set
        if self.path is not None and prefix_given and not self.path.startswith(self.path_prefix):
            raise ValueError("`path` does not start with `path_prefix`: no request could match")
        return self

    def matches(self, request: RequestFacts) -> bool:
        if self.region is not None and self.region != request.region:
            return False
        if self.method is not None and self.method != request.method.upper():
            return False
        if self.path is not None:
            if request.path != self.path:
                return False
        elif not request.path.startswith(self.path_prefix):
            return False
        if self.workspace is not None and self.workspace != request.site_id:
            return False
        if self.body_contains is not None:
            return request.body is not None and self.body_contains.encode() in request.body
        return True


class FaultQueue:
    """Pending faults, first added first used; safe to use from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[tuple[Fault, int]] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._pending.append((fault, fault.count))

    def wants_body(self) -> bool:
        """Whether a pending fault looks at bodies (so the middleware must read them first)."""
        with self._lock:
            return any(fault.body_contains is not None for fault, _ in self._pending)

    def take(self, request: RequestFacts) -> Fault | None:
        """The first pending fault for this request, one use of it spent."""
        with self._lock:
            for index, (fault, left) in enumerate(self._pending):
                if fault.matches(request):
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
