"""A minimal, fast stand-in for the Track API, for benchmarks: HTTPS on loopback only.

It answers every request `200 {}` (after an optional added latency), keeps
connections alive, and counts what it saw. It parses no JSON: it must cost far
less per request than any client it serves, or the benchmark would measure it.
Run as its own process (`python -m bench.server ...`); it prints one line with
its ports once it listens, serves `GET /_stats` (counts and its own CPU time,
not counted themselves), and stops by itself after `--max-seconds` or when its
parent closes its stdin.

Each `--latency-ms` value gets its own port, so one process serves both the
no-latency and the 30 ms runs. Each `--failing-latency-ms` value gets one more
port that answers `503` (a transient failure) to `--fail-percent` of its
requests: exactly one in each block of 100 / percent, at a position in the block
drawn from `--fail-seed`, so the share is exact and the pattern repeatable.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import random
import ssl
import sys
import time
from dataclasses import dataclass, field

_OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
_UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Content-Length: 2\r\n\r\n{}"
)
_BATCH_PATH = b"/api/v2/batch"
_STATS_PATH = b"/_stats"


@dataclass
class Stats:
    requests: int = 0
    batch_requests: int = 0
    bytes_received: int = 0
    batch_sizes: list[int] = field(default_factory=list)  # body bytes of each batch
    connections: int = 0
    failed: int = 0  # answered 503 on purpose

    def as_json(self) -> bytes:
        data = {
            "requests": self.requests,
            "batch_requests": self.batch_requests,
            "bytes_received": self.bytes_received,
            "batch_sizes": self.batch_sizes,
            "connections": self.connections,
            "failed": self.failed,
            "cpu_seconds": time.process_time(),
            "wall": time.monotonic(),
        }
        body = json.dumps(data).encode()
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        return head + body


class Failures:
    """Which requests of a port fail: one in each block of `100 / percent`, seeded."""

    def __init__(self, percent: float, seed: int) -> None:
        self.block = max(round(100 / percent), 1)
        self.rng = random.Random(seed)
        self.seen = 0
        self.target = self.rng.randrange(self.block)

    def next_fails(self) -> bool:
        fails = self.seen % self.block == self.target
        self.seen += 1
        if self.seen % self.block == 0:
            self.target = self.rng.randrange(self.block)
        return fails


class _Http(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and Content-Length bodies: all any client here sends."""

    def __init__(self, stats: Stats, latency: float, failures: Failures | None = None) -> None:
        self.stats = stats
        self.latency = latency
        self.failures = failures
        self.buffer = bytearray()
        self.need: int | None = None  # bytes of the request in progress, once its head is read
        self.body_bytes = 0
        self.path = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.stats.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.need is None:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(self.buffer[:end])
                self.path = head.split(b" ", 2)[1]
                self.body_bytes = _content_length(head)
                self.need = end + 4 + self.body_bytes
            if len(self.buffer) < self.need:
                return
            del self.buffer[: self.need]
            self.need = None
            self._answer(self.body_bytes)

    def _answer(self, body_bytes: int) -> None:
        assert self.transport is not None
        if self.path == _STATS_PATH:
            self.transport.write(self.stats.as_json())
            return
        stats = self.stats
        stats.requests += 1
        stats.bytes_received += body_bytes
        if self.path == _BATCH_PATH:
            stats.batch_requests += 1
            stats.batch_sizes.append(body_bytes)
        response = _OK
        if self.failures is not None and self.failures.next_fails():
            stats.failed += 1
            response = _UNAVAILABLE
        if self.latency:
            asyncio.get_running_loop().call_later(self.latency, self._write, response)
        else:
            self.transport.write(response)

    def _write(self, response: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(response)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


async def serve(
    certfile: str,
    keyfile: str,
    latencies_ms: list[float],
    max_seconds: float,
    failing_ms: list[float] | None = None,
    fail_percent: float = 1.0,
    fail_seed: int = 7,
) -> None:
    """One port per latency, then one per failing latency; prints the ports in that order."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    loop = asyncio.get_running_loop()
    stats = Stats()
    protocols = [functools.partial(_Http, stats, latency / 1000) for latency in latencies_ms]
    protocols += [
        functools.partial(_Http, stats, latency / 1000, Failures(fail_percent, fail_seed + index))
        for index, latency in enumerate(failing_ms or [])
    ]
    servers = []
    for protocol in protocols:
        servers.append(await loop.create_server(protocol, "127.0.0.1", 0, ssl=context, backlog=512))
    ports = [server.sockets[0].getsockname()[1] for server in servers]
    print(" ".join(map(str, ports)), flush=True)
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)  # EOF when the parent goes
    await asyncio.wait([stdin_closed], timeout=max_seconds)
    for server in servers:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--latency-ms", default="0", help="comma-separated, one port each")
    parser.add_argument("--failing-latency-ms", default="", help="one failing port each")
    parser.add_argument("--fail-percent", type=float, default=1.0)
    parser.add_argument("--fail-seed", type=int, default=7)
    parser.add_argument("--max-seconds", type=float, default=1800)
    args = parser.parse_args()
    latencies = [float(value) for value in args.latency_ms.split(",")]
    failing = [float(value) for value in args.failing_latency_ms.split(",") if value]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve(args.cert, args.key, latencies, args.max_seconds, failing,
                  args.fail_percent, args.fail_seed)
        )  # fmt: skip
    # The stdin reader thread may still block; leave without waiting for it.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
