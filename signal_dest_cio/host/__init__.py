"""The reference Signal host: catalog and install API, signed ingestion, delivery, live events.

Needs the `host` extra (FastAPI, uvicorn). Start it with `signal-cio serve`, or
build the app with `create_app()`.
"""

from __future__ import annotations

from .app import create_app
from .auth import sign
from .backoff import ManualClock, RetryPolicy

__all__ = ["ManualClock", "RetryPolicy", "create_app", "sign"]
