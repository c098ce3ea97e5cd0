"""Every error the host answers is `{"error": {"code", "message", "details"}}`.

Details name fields by path and never repeat what was sent: a refused config
may hold a credential, and a refused request body may hold a whole config.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, details: Sequence[Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details or [])


def not_found(what: str, key: str) -> ApiError:
    return ApiError(404, "not_found", f"no {what} {key!r}")


def field_path(loc: Sequence[int | str]) -> str:
    return ".".join(str(part) for part in loc)
