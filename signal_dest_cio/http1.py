"""One HTTP/1.1 connection: h11's state machine over a `netbackend` stream.

What httpcore's `AsyncHTTP11Connection` does for a request whose answer is read whole,
without what a connection shared through httpcore's pool needs on every request (an
anyio lock around its state, trace hooks, a response stream object): `PoolTransport`
hands a connection to one request at a time, so its state needs no lock. HTTP itself
(framing, keep-alive, chunked bodies, a server that closes early) is h11's.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable
from contextlib import suppress
from typing import Any

import h11
import httpcore

READ_BYTES = 64 * 1024
MAX_HEAD_BYTES = 100 * 1024  # a response head larger than this is refused (as httpcore)

Headers = list[tuple[bytes, bytes]]


class Connection:
    """A connection for one request at a time; closed by any failure of one."""

    def __init__(self, stream: httpcore.AsyncNetworkStream, keepalive_expiry: float | None) -> None:
        self.stream = stream
        self.keepalive_expiry = keepalive_expiry
        self.state = h11.Connection(our_role=h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.expire_at: float | None = None
        self.closed = False

    def has_expired(self) -> bool:
        """Idle past its keep-alive time, or closed (or written to) by the server meanwhile."""
        if self.expire_at is not None and time.monotonic() > self.expire_at:
            return True
        return bool(self.stream.get_extra_info("is_readable"))

    async def request(
        self,
        method: bytes,
        target: bytes,
        headers: Headers,
        content: AsyncIterable[bytes],
        timeouts: dict[str, Any],
    ) -> tuple[int, Headers, bytes, dict[str, Any]]:
        """Send one request and read its whole answer: status, headers, body, extensions."""
        self.expire_at = None
        try:
            # A write refused: the server may have answered already (and closed); read it.
            with suppress(httpcore.WriteError):
                await self._send(method, target, headers, content, timeouts.get("write"))
            answer = await self._receive(timeouts.get("read"))
        except BaseException:
            await self.aclose()
            raise
        if self.state.our_state is h11.DONE and self.state.their_state is h11.DONE:
            self.state.start_next_cycle()
            if self.keepalive_expiry is not None:
                self.expire_at = time.monotonic() + self.keepalive_expiry
        else:  # `Connection: close`, or a body read to the connection's end
            await self.aclose()
        return answer

    async def _send(
        self,
        method: bytes,
        target: bytes,
        headers: Headers,
        content: AsyncIterable[bytes],
        timeout: float | None,
    ) -> None:
        state, write = self.state, self.stream.write
        try:
            head = state.send(h11.Request(method=method, target=target, headers=headers))
        except h11.LocalProtocolError as error:
            raise httpcore.LocalProtocolError(str(error)) from error
        await write(head or b"", timeout)
        async for chunk in content:
            await write(state.send(h11.Data(data=chunk)) or b"", timeout)
        await write(state.send(h11.EndOfMessage()) or b"", timeout)

    async def _receive(self, timeout: float | None) -> tuple[int, Headers, bytes, dict[str, Any]]:
        state = self.state
        response: h11.Response | None = None
        body: list[bytes] = []
        while True:
            try:
                event = state.next_event()
            except h11.RemoteProtocolError as error:
                raise httpcore.RemoteProtocolError(str(error)) from error
            if event is h11.NEED_DATA:
                data = await self.stream.read(READ_BYTES, timeout)
                if not data and state.their_state is h11.SEND_RESPONSE:
                    raise httpcore.RemoteProtocolError(
                        "Server disconnected without sending a response."
                    )
                state.receive_data(data)
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage) or event is h11.PAUSED:
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise httpcore.RemoteProtocolError("the server closed the connection")
            # an informational (1xx) answer: the real one follows
        if response is None:  # a 101: this connection is not HTTP/1.1 any more
            raise httpcore.RemoteProtocolError("the server switched protocols")
        extensions = {
            "http_version": b"HTTP/" + response.http_version,
            "reason_phrase": response.reason,
        }
        content = body[0] if len(body) == 1 else b"".join(body)
        return response.status_code, response.headers.raw_items(), content, extensions

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            await self.stream.aclose()
