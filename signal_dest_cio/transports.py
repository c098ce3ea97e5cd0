"""Many requests in flight at httpx's per-request cost: several small pools, one TLS context.

httpcore's pool does work for every pooled connection on every request (it looks
each one over when it assigns requests to connections), so one pool of 64
connections costs several times more CPU per request than a pool of 4. Sixteen
`httpx.AsyncHTTPTransport`s of 4 connections each, sharing one `ssl.SSLContext`
(one set of CA certificates loaded, TLS sessions shared), carry 64 requests at the
small pool's price. Each request goes to the shard with the fewest requests in
flight; a request counts until its response is read (its connection is free
again). Each shard is a `PoolTransport`: httpx's own transport done again over
httpcore's public API, with an `httpcore.AsyncConnectionPool` on the asyncio-native
network backend of `netbackend` (httpcore's default goes through anyio, which costs
more CPU per request than the rest of the request together). Only public httpx and
httpcore API is used: these are `httpx.AsyncBaseTransport`s like any other, and the
client can be handed any other instead (tests pass `httpx.MockTransport` or
`httpx.ASGITransport`, which are used as they are).
"""

from __future__ import annotations

import ssl

import httpcore
import httpx

from .netbackend import AsyncioBackend

CONNECTIONS_PER_SHARD = 4

# httpcore's exceptions as httpx's (what httpx's own transport raises for each): the
# client's retry logic tells timeouts from connection failures by these.
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
}


def httpx_error(error: Exception, request: httpx.Request) -> httpx.TransportError | None:
    """The httpx exception httpx's transport raises for an httpcore one (None for others)."""
    for kind in type(error).__mro__:
        mapped = _HTTPX_ERRORS.get(kind)
        if mapped is not None:
            return mapped(str(error), request=request)
    return None


class PoolTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 through one httpcore pool on the asyncio backend; responses come back read."""

    def __init__(
        self, ssl_context: ssl.SSLContext, connections: int, keepalive_expiry: float = 5.0
    ) -> None:
        self.ssl_context = ssl_context
        self.pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=connections,
            max_keepalive_connections=connections,
            keepalive_expiry=keepalive_expiry,
            network_backend=AsyncioBackend(),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,  # an httpx.AsyncByteStream
            extensions=request.extensions,
        )
        try:
            response = await self.pool.handle_async_request(core_request)
            try:
                body = await response.aread()
            finally:
                await response.aclose()
        except Exception as error:
            mapped = httpx_error(error, request)
            if mapped is None:
                raise
            raise mapped from error
        return httpx.Response(
            response.status,
            headers=response.headers,
            stream=httpx.ByteStream(body),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self.pool.aclose()


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
