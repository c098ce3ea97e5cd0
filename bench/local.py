"""The local HTTPS server for the delivery benchmarks, and the clients' trust in it.

The official `customerio` client only speaks https (it builds `https://host:port`
URLs), so the server has a certificate from a throwaway trustme CA, and both
clients are pointed at that CA the way a user would: `REQUESTS_CA_BUNDLE` for
requests, `SSL_CERT_FILE` for httpx. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme

from .common import REPO


@dataclass
class LocalServer:
    ports: dict[float, int]  # added latency in ms -> port
    ca_file: str
    process: subprocess.Popen[str]
    # (added latency in ms, port) of each port that answers 503 to fail_percent of requests
    failing_ports: list[tuple[float, int]] = field(default_factory=list)
    fail_percent: float = 0.0

    def url(self, latency_ms: float) -> str:
        return f"https://127.0.0.1:{self.ports[latency_ms]}"

    def failing_url(self, index: int) -> str:
        """One of the failing ports: each has its own seeded pattern, so a client that
        has one to itself meets `fail_percent` of its own requests failing."""
        return f"https://127.0.0.1:{self.failing_ports[index][1]}"

    def stats(self) -> dict[str, Any]:
        context = ssl.create_default_context(cafile=self.ca_file)
        port = next(iter(self.ports.values()))
        connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
        try:
            connection.request("GET", "/_stats")
            stats: dict[str, Any] = json.loads(connection.getresponse().read())
        finally:
            connection.close()
        return stats


@contextmanager
def local_server(
    latencies_ms: tuple[float, ...] = (0, 30),
    max_seconds: float = 3600,
    failing_ms: tuple[float, ...] = (30, 30),
    fail_percent: float = 1.0,
) -> Iterator[LocalServer]:
    """Start the server in its own process; stop it (and restore the env) on exit.

    Each of `failing_ms` gets a port of its own that answers 503 to `fail_percent`
    of its requests (seeded, see `bench.server.Failures`).
    """
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    with tempfile.TemporaryDirectory(prefix="bench-tls-") as folder:
        ca_file, cert_file = Path(folder, "ca.pem"), Path(folder, "server.pem")
        ca.cert_pem.write_to_path(str(ca_file))
        cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
        latencies = ",".join(str(value) for value in latencies_ms)
        failing = ",".join(str(value) for value in failing_ms)
        command = [sys.executable, "-m", "bench.server", "--cert", str(cert_file),
                   "--key", str(cert_file), "--latency-ms", latencies,
                   "--failing-latency-ms", failing, "--fail-percent", str(fail_percent),
                   "--max-seconds", str(max_seconds)]  # fmt: skip
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO
        )
        saved = {name: os.environ.get(name) for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")}
        try:
            assert process.stdout is not None
            ports = [int(port) for port in process.stdout.readline().split()]
            if len(ports) != len(latencies_ms) + len(failing_ms):
                raise RuntimeError("the benchmark server did not start")
            os.environ["SSL_CERT_FILE"] = os.environ["REQUESTS_CA_BUNDLE"] = str(ca_file)
            plain, faulty = ports[: len(latencies_ms)], ports[len(latencies_ms) :]
            yield LocalServer(
                dict(zip(latencies_ms, plain, strict=True)),
                str(ca_file),
                process,
                list(zip(failing_ms, faulty, strict=True)),
                fail_percent,
            )
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            assert process.stdin is not None
            process.stdin.close()  # the server stops when its stdin closes
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


_PROBE = (
    b"POST /api/v1/customers/probe/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/json\r\nContent-Length: 17\r\n\r\n"
    b'{"name":"probe"}\n'
)
_REPLY_BYTES = len(
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
)


async def _hammer(server: LocalServer, connections: int, seconds: float) -> int:
    context = ssl.create_default_context(cafile=server.ca_file)
    deadline = time.monotonic() + seconds
    done = 0

    async def one_connection() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", server.ports[0], ssl=context)
        while time.monotonic() < deadline:
            writer.write(_PROBE)
            await reader.readexactly(_REPLY_BYTES)
            done += 1
        writer.close()

    await asyncio.gather(*(one_connection() for _ in range(connections)))
    return done


def server_capacity(server: LocalServer, seconds: float, connections: int = 32) -> dict[str, Any]:
    """What the server serves to a trivial concurrent client (raw sockets, prebuilt bytes).

    The client is Python too and may saturate first, so the server's own CPU time
    is reported as well: requests per server CPU-second is what one core of it
    would serve flat out.
    """
    before = server.stats()
    start = time.perf_counter()
    served = asyncio.run(_hammer(server, connections, seconds))
    wall = time.perf_counter() - start
    after = server.stats()
    cpu = after["cpu_seconds"] - before["cpu_seconds"]
    return {
        "requests": served,
        "requests_per_s": round(served / wall),
        "server_cpu_share": round(cpu / wall, 2),
        "requests_per_server_cpu_s": round(served / cpu) if cpu > 0 else None,
    }
