"""Many requests in flight at a small per-request cost: pools of HTTP/1.1 connections.

`ShardedTransport` spreads 64 connections over pools of 4 (`PoolTransport`s) sharing
one `ssl.SSLContext` (one set of CA certificates loaded, TLS sessions shared). Each
request goes to the pool with the fewest requests in flight; a request counts until
its response is read (its connection is free again).

`PoolTransport` is what `httpx.AsyncHTTPTransport` does for a request whose answer is
read whole, at about half its CPU: its connections are h11 over the asyncio-native
streams of `netbackend` (httpcore's default backend goes through anyio: a cancel
scope and a timer per socket operation, TLS in Python), handed out from a stack of
idle ones (httpcore's pool looks every connection over on every request), one request
at a time (`http1`). Failures are raised as the httpx exceptions httpx's transport
raises for them. Only public httpx, httpcore and h11 API is used: these are
`httpx.AsyncBaseTransport`s like any other, and the client can be handed any other
instead (tests pass `httpx.MockTransport` or `httpx.ASGITransport`, which are used as
they are; with a proxy configured the client uses httpx's own transport).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from typing import Any

import h11
import httpcore
import httpx

from .http1 import Connection
from .netbackend import AsyncioBackend

CONNECTIONS_PER_SHARD = 4

# httpcore's (and h11's) exceptions as httpx's, as httpx's own transport maps them: the
# client tells timeouts from connection failures by these.
_HTTPX_ERRORS: dict[type[Exception], type[httpx.TransportError]] = {
    httpcore.TimeoutException: httpx.TimeoutException,
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.NetworkError: httpx.NetworkError,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.ProxyError: httpx.ProxyError,
    httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
    httpcore.ProtocolError: httpx.ProtocolError,
    httpcore.LocalProtocolError: httpx.LocalProtocolError,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
    h11.LocalProtocolError: httpx.LocalProtocolError,  # h11's own, should one get through
    h11.RemoteProtocolError: httpx.RemoteProtocolError,
}


def httpx_error(error: Exception, request: httpx.Request) -> httpx.TransportError | None:
    """The httpx exception httpx's transport raises for an httpcore one (None for others):
    the most specific one, found along the exception's classes."""
    for kind in type(error).__mro__:
        mapped = _HTTPX_ERRORS.get(kind)
        if mapped is not None:
            return mapped(str(error), request=request)
    return None


Key = tuple[bytes, bytes, int]  # scheme, host, port
DEFAULT_PORTS = {b"http": 80, b"https": 443}


class PoolTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over at most `connections` connections (`http1`); answers come back read.

    The pool is a stack of idle connections per origin (the last used is used again
    first): taking one and giving it back cost the same however many there are. A
    connection idle past `keepalive_expiry`, or that the server closed, is not used
    again; a request that finds every connection busy waits for one (up to the pool
    timeout); one that finds the pool full of idle connections to another origin
    closes one of them.
    """

    def __init__(
        self, ssl_context: ssl.SSLContext, connections: int, keepalive_expiry: float = 5.0
    ) -> None:
        ssl_context.set_alpn_protocols(["http/1.1"])
        ssl_context.options |= ssl.OP_NO_RENEGOTIATION  # a server's is refused, not followed
        self.ssl_context = ssl_context
        self.connections = connections
        self.keepalive_expiry = keepalive_expiry
        self.backend = AsyncioBackend()
        self.idle: dict[Key, list[Connection]] = {}
        self.opened = 0  # connections open or being opened, idle or not
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.raw_scheme
        key = (scheme, url.raw_host, url.port or DEFAULT_PORTS.get(scheme, 0))
        stream = request.stream
        assert isinstance(stream, httpx.AsyncByteStream)  # as httpx's own transport asks
        extensions = request.extensions
        try:
            connection = await self._acquire(key, extensions)
            try:
                status, headers, body, answer = await connection.request(
                    request.method.encode("ascii"),
                    url.raw_path,
                    request.headers.raw,
                    stream,
                    extensions.get("timeout", {}),
                )
            finally:
                await self._release(key, connection)
        except Exception as error:
            mapped = httpx_error(error, request)
            if mapped is None:
                raise
            raise mapped from error
        return httpx.Response(
            status, headers=headers, stream=httpx.ByteStream(body), extensions=answer
        )

    async def _acquire(self, key: Key, extensions: dict[str, Any]) -> Connection:
        """An idle connection to `key`'s origin still open, else a new one when there is
        room (an idle one elsewhere is closed for it), else the first one given back."""
        if self.closed:
            raise RuntimeError("the transport is closed")
        while True:
            idle = self.idle.get(key)
            while idle:
                connection = idle.pop()
                if not connection.has_expired():  # the keep-alive time, a server's close
                    return connection
                await self._discard(connection)
            if self.opened < self.connections:
                break
            elsewhere = next((stack for stack in self.idle.values() if stack), None)
            if elsewhere is not None:
                await self._discard(elsewhere.pop(0))
                continue
            await self._wait(extensions.get("timeout", {}).get("pool"))
        self.opened += 1
        try:
            return await self._connect(key, extensions)
        except BaseException:
            self.opened -= 1
            self._wake_one()
            raise

    async def _connect(self, key: Key, extensions: dict[str, Any]) -> Connection:
        scheme, host, port = key
        if scheme not in DEFAULT_PORTS:
            raise httpcore.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
        timeout = extensions.get("timeout", {}).get("connect")
        name = host.decode("ascii")
        stream = await self.backend.connect_tcp(name, port, timeout=timeout)
        if scheme == b"https":
            hostname = extensions.get("sni_hostname") or name
            stream = await stream.start_tls(self.ssl_context, hostname, timeout)
        return Connection(stream, self.keepalive_expiry)

    async def _release(self, key: Key, connection: Connection) -> None:
        """A connection back from a request: kept when idle, else closed."""
        if not connection.closed and not self.closed:
            idle = self.idle.setdefault(key, [])
            if idle and idle[0].has_expired():  # the longest idle, seen to in passing
                await self._discard(idle.pop(0))
            idle.append(connection)
        else:
            await self._discard(connection)
        self._wake_one()

    async def _discard(self, connection: Connection) -> None:
        self.opened -= 1
        await connection.aclose()

    async def _wait(self, timeout: float | None) -> None:
        """Until a connection is given back, or `timeout` (httpcore.PoolTimeout)."""
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except BaseException as error:
            if waiter.done() and not waiter.cancelled():
                self._wake_one()  # woken, but leaving: the wake goes to the next in line
            elif waiter in self.waiters:
                self.waiters.remove(waiter)
            if isinstance(error, TimeoutError):
                raise httpcore.PoolTimeout("no connection free in time") from None
            raise
        if self.closed:
            raise RuntimeError("the transport is closed")

    def _wake_one(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def aclose(self) -> None:
        self.closed = True
        for stack in self.idle.values():
            while stack:
                await self._discard(stack.pop())
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)


class ShardedTransport(httpx.AsyncBaseTransport):
    """`connections` HTTP/1.1 connections as pools of `CONNECTIONS_PER_SHARD`."""

    def __init__(self, connections: int, keepalive_expiry: float = 5.0) -> None:
        context = httpx.create_ssl_context()  # SSL_CERT_FILE / SSL_CERT_DIR, else certifi
        shards = max(1, -(-connections // CONNECTIONS_PER_SHARD))
        self.shards = [
            PoolTransport(context, CONNECTIONS_PER_SHARD, keepalive_expiry) for _ in range(shards)
        ]
        self.in_flight = [0] * shards

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send through the least busy shard; the answer comes back read (Track API answers
        are small), so its connection is free, and counted free, at once."""
        busy = self.in_flight
        index = busy.index(min(busy))  # the least busy shard (the first of equals)
        busy[index] += 1
        try:
            response = await self.shards[index].handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
        finally:
            busy[index] -= 1
        return response

    async def aclose(self) -> None:
        for shard in self.shards:
            await shard.aclose()
