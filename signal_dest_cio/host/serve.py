"""`signal-cio serve`: the reference host under uvicorn, on a SQLite file or a PostgreSQL
database (`--db postgresql://...`, any number of processes); and `signal-cio
rotate-key`, which re-seals its stored configs under a new key.

The command lines themselves are declared in `signal_dest_cio/cli.py`; this module
is imported only when one of them runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import replace
from typing import Any

from cryptography.fernet import Fernet

from ..config import ALLOWED_OVERRIDE_HOSTS_ENV
from .app import ADMIN_TOKEN_ENV, SIGNING_SECRET_ENV, create_app
from .auth import new_token
from .backoff import RetryPolicy
from .dbfile import DatabaseInUse
from .leasing import DEFAULT_LEASE_SECONDS
from .pgschema import SchemaTooNew
from .store_api import is_postgres_url, open_store
from .vault import KEY_ENV, Vault, VaultError
from .worker import DEFAULT_BATCH_SIZE

NEW_KEY_ENV = "SIGNAL_NEW_SECRET_KEY"


def _secret_from_env(env: str, what: str) -> str:
    """The value of `env`, or a fresh one printed once so the operator can use it."""
    value = os.environ.get(env)
    if value:
        return value
    value = new_token()
    print(f"{what} (set {env} to choose your own): {value}", flush=True)
    return value


def live_url(host: str, port: int, token: str, generated: bool) -> str:
    """The /live address to print. A token this process made was just printed anyway, so
    the URL carries it, ready to open (the operator's own console; the token sits in
    the fragment, which browsers never send). A token the operator set is theirs to
    paste: it is never echoed. Printed on stdout only, never logged."""
    where = f"http://{'[' + host + ']' if ':' in host else host}:{port}/live"
    return f"{where}#token={token}" if generated else f"{where}#token=<your {ADMIN_TOKEN_ENV}>"


def policy_from(args: argparse.Namespace) -> RetryPolicy:
    """The README's defaults, with whatever the command line overrides."""
    given: dict[str, Any] = {
        "max_attempts": getattr(args, "max_attempts", None),
        "max_age_seconds": getattr(args, "max_age", None),
        "base_delay_seconds": getattr(args, "base_delay", None),
        "max_delay_seconds": getattr(args, "max_delay", None),
    }
    return replace(RetryPolicy(), **{k: v for k, v in given.items() if v is not None})


class WithoutQueryStrings(logging.Filter):
    """Access log lines never show a query string (a token pasted into one, say)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    allowed = list(getattr(args, "allow_override_host", None) or [])
    if allowed:  # the config model reads it when it validates an override URL
        known = os.environ.get(ALLOWED_OVERRIDE_HOSTS_ENV, "")
        os.environ[ALLOWED_OVERRIDE_HOSTS_ENV] = ",".join([known, *allowed]).strip(",")
    generated = not os.environ.get(ADMIN_TOKEN_ENV)
    admin_token = _secret_from_env(ADMIN_TOKEN_ENV, "admin token")
    try:
        app = create_app(
            db=args.db,
            admin_token=admin_token,
            signing_secret=_secret_from_env(SIGNING_SECRET_ENV, "event signing secret"),
            policy=policy_from(args),
            batch_size=getattr(args, "batch_size", None) or DEFAULT_BATCH_SIZE,
            lease_seconds=getattr(args, "lease_seconds", None) or DEFAULT_LEASE_SECONDS,
            worker_process=args.db != ":memory:",
        )
    except (DatabaseInUse, VaultError, SchemaTooNew) as error:
        print(f"signal-cio serve: {error}", file=sys.stderr, flush=True)
        return 2
    except Exception as error:
        if not _is_database_error(error):
            raise
        print(f"signal-cio serve: cannot open the database: {error}", file=sys.stderr, flush=True)
        return 2
    print(f"live events: {live_url(args.host, args.port, admin_token, generated)}", flush=True)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="info")
    logging.getLogger("uvicorn.access").addFilter(WithoutQueryStrings())
    uvicorn.Server(config).run()
    return 0


def rotate_key(args: argparse.Namespace) -> int:
    """Re-seal every stored config: opened with the current key, sealed with the new one.

    The current key is SIGNAL_SECRET_KEY, else the key file beside the database; the
    new one is SIGNAL_NEW_SECRET_KEY, else a fresh key. With a key file, the file is
    replaced; with SIGNAL_SECRET_KEY, set it to the new key before the next start.
    The host must be stopped (the database's lock says so otherwise).
    """
    path: str = args.db
    if not is_postgres_url(path) and not os.path.exists(path):
        print(f"signal-cio rotate-key: no database at {path}", file=sys.stderr)
        return 2
    new_key = os.environ.get(NEW_KEY_ENV) or Fernet.generate_key().decode()
    try:
        new = Vault(new_key)
        store = open_store(path, Vault.for_database(path))
    except (DatabaseInUse, VaultError, SchemaTooNew) as error:
        print(f"signal-cio rotate-key: {error}", file=sys.stderr)
        return 2
    try:
        count = store.rotate_vault(new)
    except VaultError as error:
        print(f"signal-cio rotate-key: {error}", file=sys.stderr)
        return 2
    finally:
        store.close()
    if os.environ.get(KEY_ENV) or is_postgres_url(path):
        where = f"set {KEY_ENV} to the new key before the next start"
        if not os.environ.get(NEW_KEY_ENV):
            where += f": {new_key}"
    else:
        _replace_key_file(str(Vault.key_path(path)), new_key)
        where = f"the key file {Vault.key_path(path)} now holds the new key"
    print(f"re-sealed {count} stored config(s); {where}", flush=True)
    return 0


def _is_database_error(error: Exception) -> bool:
    """psycopg's errors (unreachable server, bad password), without importing it for SQLite."""
    return type(error).__module__.startswith(("psycopg", "psycopg_pool"))


def _replace_key_file(path: str, key: str) -> None:
    temporary = path + ".new"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key + "\n")
    os.replace(temporary, path)
