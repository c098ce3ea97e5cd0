"""`signal-cio serve`: the reference host under uvicorn, SQLite on disk.

The command line itself is declared in `signal_dest_cio/cli.py`; this module is
imported only when the command runs.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from typing import Any

from .app import ADMIN_TOKEN_ENV, SIGNING_SECRET_ENV, create_app
from .auth import new_token
from .backoff import RetryPolicy
from .worker import DEFAULT_BATCH_SIZE


def _secret_from_env(env: str, what: str) -> str:
    """The value of `env`, or a fresh one printed once so the operator can use it."""
    value = os.environ.get(env)
    if value:
        return value
    value = new_token()
    print(f"{what} (set {env} to choose your own): {value}", flush=True)
    return value


def policy_from(args: argparse.Namespace) -> RetryPolicy:
    """The README's defaults, with whatever the command line overrides."""
    given: dict[str, Any] = {
        "max_attempts": getattr(args, "max_attempts", None),
        "max_age_seconds": getattr(args, "max_age", None),
        "base_delay_seconds": getattr(args, "base_delay", None),
        "max_delay_seconds": getattr(args, "max_delay", None),
    }
    return replace(RetryPolicy(), **{k: v for k, v in given.items() if v is not None})


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    app = create_app(
        db=args.db,
        admin_token=_secret_from_env(ADMIN_TOKEN_ENV, "admin token"),
        signing_secret=_secret_from_env(SIGNING_SECRET_ENV, "event signing secret"),
        policy=policy_from(args),
        batch_size=getattr(args, "batch_size", None) or DEFAULT_BATCH_SIZE,
    )
    print(f"live events: http://{args.host}:{args.port}/live#token=<admin token>", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0
