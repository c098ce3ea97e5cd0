"""Raw ASGI middleware: keep paths percent-encoded, log Track requests, play faults.

Each Track/App/Pipelines request gets one log record (`GET /_emulator/requests`): `time`,
`method`, `path` (as sent), `region`, `status`, `workspace` (the site_id the app
authenticated; None when a fault answered first), `fault` (the kind played, if
any) and `notes` (what the state was asked to do and did not; see `notes.py`).
A fault is chosen from the request's region, method, path, the site_id its
credentials name (Basic, or an App API Bearer key) and, only while a pending fault
has `body_contains`, its body: the body is then read first and replayed to the app
unchanged.

How a fault looks to the client, by how the emulator runs:

- under uvicorn (`server.py`), whose protocol puts a `close the connection`
  callable in `scope["extensions"]`:
  - "drop": the connection is closed with no response; an httpx client raises
    `httpx.RemoteProtocolError` ("Server disconnected without sending a response"),
    `requests` a `ConnectionError` (which the official `customerio` client retries,
    then wraps in `CustomerIOException`). The request is not applied.
  - "slow": the request is applied, and its answer is held back `seconds`, so a
    client with a shorter timeout raises `httpx.ReadTimeout`.
- in-process (`httpx.ASGITransport`, no connection to close, no timeouts):
  - "drop" raises `ConnectionDropped`, an `httpx.RemoteProtocolError`, out of the
    app; ASGITransport re-raises it, so the caller sees the same exception as over
    a socket. The request is not applied.
  - "slow" applies the request, then raises `httpx.ReadTimeout` at once (the
    timeout the client would have hit), without sleeping.

The destination turns both into `retry` outcomes (`connection_error`, `timeout`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import notes
from .faults import Fault, RequestFacts
from .state import EmulatorState
from .validation import basic_credentials

# The scope extension server.py's protocol sets: a callable that closes the connection.
CLOSE_CONNECTION = "signal_emulator.close_connection"
# Routes write the authenticated site_id here, for the request log.
NOTE_KEY = "signal_emulator.note"
INSPECTION_PREFIX = "/_emulator"


class ConnectionDropped(httpx.RemoteProtocolError):
    """Raised in-process for a "drop" fault: the caller sees a transport failure."""


class EmulatorMiddleware:
    def __init__(self, app: ASGIApp, state: EmulatorState, region: str) -> None:
        self.app = app
        self.state = state
        self.region = region

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Route on the path as sent: an identifier `a%2Fb` must stay one path segment.
        raw: bytes = scope.get("raw_path") or scope["path"].encode()
        path = raw.split(b"?", 1)[0].decode("latin-1")
        scope["path"] = path
        if path.startswith(INSPECTION_PREFIX):
            await self.app(scope, receive, send)
            return
        note: dict[str, Any] = {}
        scope[NOTE_KEY] = note
        record: dict[str, Any] = {
            "time": self.state.clock(),
            "method": scope["method"],
            "path": path,
            "region": self.region,
            "status": None,
            "workspace": None,
            "fault": None,
            "notes": [],
        }

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                record["status"] = message["status"]
            await send(message)

        facts = RequestFacts(self.region, scope["method"], path, self._site_of(scope))
        try:
            if self.state.faults.wants_body():
                body, receive = await _buffered(receive)
                facts = dataclasses.replace(facts, body=body)
            with notes.collecting() as found:
                record["notes"] = found
                fault = self.state.faults.take(facts)
                if fault is None:
                    await self.app(scope, receive, logged_send)
                else:
                    record["fault"] = fault.kind
                    await self._play(fault, scope, receive, logged_send)
        finally:
            record["workspace"] = note.get("site_id")
            self.state.log_request(record)

    def _site_of(self, scope: Scope) -> str | None:
        """The site_id the request's credentials name: the Basic user of a Track call, the
        workspace of a Data Pipelines key (Basic user) or of an App API key (Bearer).
        Keys are only looked up, never kept."""
        header = _authorization(scope)
        scheme, _, key = header.partition(" ")
        if scheme.lower() == "bearer":
            workspace = self.state.workspace_for_app_key(key.strip())
            return workspace.site_id if workspace else None
        given = basic_credentials(header)
        user = given[0] if given else None
        if user is None or self.state.workspace(user) is not None:
            return user
        found = self.state.workspace_for_cdp_key(user)
        return found.site_id if found else None

    async def _play(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        close: Callable[[], None] | None = (scope.get("extensions") or {}).get(CLOSE_CONNECTION)
        if fault.kind == "status":
            await _answer_status(fault, send)
        elif fault.kind == "drop":
            if close is None:
                raise ConnectionDropped("the emulator dropped the connection (fault)")
            close()
            await _wait_for_disconnect(receive)
        else:  # slow: applied now, answered late
            held: list[Message] = []

            async def hold(message: Message) -> None:
                held.append(message)

            await self.app(scope, receive, hold)
            if close is None:
                raise httpx.ReadTimeout(f"the emulator answered {fault.seconds}s late (fault)")
            await asyncio.sleep(fault.seconds)
            for message in held:
                await send(message)


async def _answer_status(fault: Fault, send: Send) -> None:
    status = fault.status or 500
    body = json.dumps({"meta": {"error": f"emulated fault: {status}"}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if fault.retry_after is not None:
        headers.append((b"retry-after", fault.retry_after.encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _authorization(scope: Scope) -> str:
    for name, value in scope.get("headers") or []:
        if name.lower() == b"authorization":
            text: str = value.decode("latin-1")
            return text
    return ""


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole body, and a `receive` that hands the same messages to the app."""
    messages: deque[Message] = deque()
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")

    async def replay() -> Message:
        return messages.popleft() if messages else await receive()

    return body, replay


async def _wait_for_disconnect(receive: Receive) -> None:
    """After closing, wait until the server sees it, so it sends no 500 of its own."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):
            while (await receive())["type"] != "http.disconnect":
                pass
