"""The reference Signal host: catalog and install API, signed ingestion, delivery, live events.

Needs the `host` extra (FastAPI, uvicorn). Start it with `signal-cio serve`, or
build the app with `create_app()`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .auth import sign
from .backoff import ManualClock, RetryPolicy

if TYPE_CHECKING:
    from .app import create_app

__all__ = ["ManualClock", "RetryPolicy", "create_app", "sign"]


def __getattr__(name: str) -> Any:
    # The app (FastAPI and every route) is loaded when asked for, not with the package:
    # the worker process imports only its own modules, and starting it took ~1 s of CPU.
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
