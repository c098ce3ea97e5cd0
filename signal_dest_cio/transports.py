"""Many requests in flight at httpx's per-request cost: several small pools, one TLS context.

httpcore's pool does work for every pooled connection on every request (it looks
each one over when it assigns requests to connections), so one pool of 64
connections costs several times more CPU per request than a pool of 4. Sixteen
`httpx.AsyncHTTPTransport`s of 4 connections each, sharing one `ssl.SSLContext`
(one set of CA certificates loaded, TLS sessions shared), carry 64 requests at the
small pool's price. Each request goes to the shard with the fewest requests in
flight; a request counts until its response is read (its connection is free
again). Only public httpx API is used: this is an `httpx.AsyncBaseTransport` like
any other, and the client can be handed any other instead (tests pass
`httpx.MockTransport` or `httpx.ASGITransport`, which are used as they are).
"""

from __future__ import annotations

import httpx

CONNECTIONS_PER_SHARD = 4


class ShardedTransport(httpx.AsyncBaseTransport):
    """`connections` HTTP/1.1 connections as pools of `CONNECTIONS_PER_SHARD`."""

    def __init__(self, connections: int, keepalive_expiry: float = 5.0) -> None:
        context = httpx.create_ssl_context()  # SSL_CERT_FILE / SSL_CERT_DIR, else certifi
        shards = max(1, -(-connections // CONNECTIONS_PER_SHARD))
        per_shard = httpx.Limits(
            max_connections=CONNECTIONS_PER_SHARD,
            max_keepalive_connections=CONNECTIONS_PER_SHARD,
            keepalive_expiry=keepalive_expiry,
        )
        self.shards = [
            httpx.AsyncHTTPTransport(verify=context, limits=per_shard) for _ in range(shards)
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
