"""Who may talk to the host: a bearer token for admin routes, HMAC for event ingestion.

Ingestion signatures are `X-Signature: sha256=<hex>` over
`X-Timestamp + "." + body`, the timestamp in milliseconds and within five
minutes of the host's clock, compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_PREFIX = "sha256="
TIMESTAMP_TOLERANCE_MS = 5 * 60 * 1000


class SignatureError(Exception):
    """Why a signed request is refused; `code` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def new_token() -> str:
    return secrets.token_urlsafe(32)


def bearer_matches(authorization: str | None, token: str) -> bool:
    """True when `Authorization: Bearer <token>` carries exactly this token."""
    if not authorization or not token:
        return False
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def sign(secret: str, timestamp_ms: int | str, body: bytes) -> str:
    """The `X-Signature` value for a body sent at `timestamp_ms`."""
    message = str(timestamp_ms).encode() + b"." + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify_signature(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now_ms: int,
    tolerance_ms: int = TIMESTAMP_TOLERANCE_MS,
) -> None:
    """Raise `SignatureError` unless the body is signed with `secret` and fresh."""
    check_timestamp(timestamp, signature, now_ms, tolerance_ms)
    assert timestamp is not None and signature is not None
    expected = sign(secret, timestamp, body)
    if not hmac.compare_digest(signature.strip().encode(), expected.encode()):
        raise SignatureError("invalid_signature", "X-Signature does not match the body")


def check_timestamp(
    timestamp: str | None,
    signature: str | None,
    now_ms: int,
    tolerance_ms: int = TIMESTAMP_TOLERANCE_MS,
) -> None:
    """What can be checked before the body is read: both headers there, the time fresh."""
    if not timestamp or not signature:
        raise SignatureError(
            "missing_signature", "X-Timestamp and X-Signature headers are required"
        )
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 16:
        raise SignatureError("invalid_timestamp", "X-Timestamp must be unix time in milliseconds")
    if abs(now_ms - int(timestamp)) > tolerance_ms:
        raise SignatureError(
            "stale_timestamp",
            f"X-Timestamp is more than {tolerance_ms // 60000} minutes from the host's clock",
        )
