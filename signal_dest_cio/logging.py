"""structlog processors: secrets never leave the process in a log line.

The plugin never configures structlog; a host adds `redact_secrets` to its own
processor chain (the CLI does), and `register_secret` teaches it the values.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = re.compile(r"(api_key|apikey|secret|token|password|authorization)", re.I)
_BASIC = re.compile(r"(?i)\b(basic|bearer)\s+[A-Za-z0-9+/=._-]+")
_known_secrets: set[str] = set()
REDACTED = "[redacted]"


def register_secret(value: str) -> None:
    """Remember a secret value so any log line that contains it is scrubbed."""
    if len(value) >= 4:
        _known_secrets.add(value)


def redact(value: Any) -> Any:
    if isinstance(value, str):
        for secret in _known_secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return _BASIC.sub(lambda m: f"{m.group(1)} {REDACTED}", value)
    if isinstance(value, dict):
        return {
            key: REDACTED if _SECRET_KEYS.search(str(key)) else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(redact(item) for item in value)
    return value


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: masks secret-named keys, known secret values and auth headers."""
    return {
        key: redact(value) if not _SECRET_KEYS.search(key) else REDACTED
        for key, value in event_dict.items()
    }


def get_logger(**context: Any) -> Any:
    return structlog.get_logger("signal_dest_cio").bind(destination="customer_io", **context)
