"""Raw ASGI guard: what can be checked before a body is read is checked first, and no
body is read past its cap.

- Admin routes (`/v1/admin/...`): the bearer token is checked before a byte of the
  body is read (401 at once), and a body is at most `MAX_ADMIN_BODY_BYTES`.
- Ingestion (`POST /v1/events`): the signature headers must be there and the
  timestamp fresh before the body is read (401 at once); the body is at most
  `MAX_EVENTS_BODY_BYTES`. The HMAC itself needs the whole body; the route checks it.
- Reporting webhooks (`POST /v1/sources/...`): `X-CIO-Timestamp` and `X-CIO-Signature`
  there and fresh before the body is read; at most `MAX_SOURCE_BODY_BYTES`.
- Anything else: at most `MAX_OTHER_BODY_BYTES`.

A declared `Content-Length` over the cap is a 413 before reading; a chunked body is
counted as it streams and refused with a 413 the moment it passes the cap, so memory
stays bounded whatever arrives, signed or not.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookRefused, check_headers
from .auth import SignatureError, bearer_matches, check_timestamp
from .error_handlers import error_response

MAX_EVENTS_BODY_BYTES = 5 * 1024 * 1024
MAX_ADMIN_BODY_BYTES = 1024 * 1024
MAX_OTHER_BODY_BYTES = 64 * 1024
ADMIN_PREFIX = "/v1/admin"
EVENTS_PATH = "/v1/events"
SOURCES_PREFIX = "/v1/sources/"
MAX_SOURCE_BODY_BYTES = 1024 * 1024  # a webhook with its message body included


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a streaming body passes its cap (answered as a 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"a request body is at most {limit} bytes")


# The `source` label of ingestion in /metrics: `POST /v1/events`, reporting webhooks.
EVENTS_SOURCE = "events_api"
WEBHOOK_SOURCE = "reporting_webhook"


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        admin_token: Callable[[], str],
        now_ms: Callable[[], int],
        on_refused: Callable[[str, str], None] = lambda source, code: None,
    ) -> None:
        self.app = app
        self.admin_token = admin_token
        self.now_ms = now_ms
        # Told (source, code) of each ingestion request refused here, before its body
        # is read (a stale or missing signature, a declared body over the limit): the
        # routes count the ones refused once read, /metrics shows both.
        self.on_refused = on_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        path: str = scope["path"]
        limit = MAX_OTHER_BODY_BYTES
        source: str | None = None  # an ingestion route's /metrics label
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            if not bearer_matches(headers.get("authorization"), self.admin_token()):
                await _refuse(
                    scope,
                    receive,
                    send,
                    401,
                    "unauthorized",
                    "send Authorization: Bearer <admin token>",
                )
                return
            limit = MAX_ADMIN_BODY_BYTES
        elif path == EVENTS_PATH and scope["method"] == "POST":
            try:
                check_timestamp(
                    headers.get("x-timestamp"), headers.get("x-signature"), self.now_ms()
                )
            except SignatureError as error:
                self.on_refused(EVENTS_SOURCE, error.code)
                await _refuse(scope, receive, send, 401, error.code, error.message)
                return
            limit, source = MAX_EVENTS_BODY_BYTES, EVENTS_SOURCE
        elif path.startswith(SOURCES_PREFIX) and scope["method"] == "POST":
            try:  # a reporting webhook: its signature headers, before its body
                check_headers(
                    headers.get(TIMESTAMP_HEADER),
                    headers.get(SIGNATURE_HEADER),
                    self.now_ms() / 1000,
                )
            except WebhookRefused as refused:
                self.on_refused(WEBHOOK_SOURCE, refused.code)
                await _refuse(scope, receive, send, 401, refused.code, refused.message)
                return
            limit, source = MAX_SOURCE_BODY_BYTES, WEBHOOK_SOURCE
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            if source is not None:
                self.on_refused(source, "payload_too_large")
            await _refuse(
                scope,
                receive,
                send,
                413,
                "payload_too_large",
                f"a request body is at most {limit} bytes",
            )
            return
        await self.app(scope, _capped(receive, limit), send)


def _capped(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def capped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return capped


async def _refuse(
    scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str
) -> None:
    headers = {"WWW-Authenticate": "Bearer"} if code == "unauthorized" else None
    # Close the connection rather than read (and drop) whatever body was coming.
    response = error_response(
        status, code, message, headers={**(headers or {}), "Connection": "close"}
    )
    await response(scope, receive, send)
