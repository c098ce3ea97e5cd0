"""Both regions under uvicorn in one process, on loopback only.

`run_emulator` blocks until Ctrl-C; `serve_in_thread` runs the same servers on a
background thread for tests, the harness and the demo, and yields the URLs they
really bound (ports may be 0). Optional TLS takes a certificate and key file.

The servers use uvicorn's h11 protocol with one addition: each request's scope
carries a callable that closes its connection, which is how a "drop" fault ends
a request with no response at all (see middleware.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn._types import ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.protocols.http.h11_impl import H11Protocol

from .app import create_app
from .middleware import CLOSE_CONNECTION
from .state import EmulatorState

STARTUP_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class EmulatorUrls:
    us: str
    eu: str


class DroppableH11Protocol(H11Protocol):
    """uvicorn's h11 protocol; the app may close the connection without answering."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        inner = self.app

        async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
            given: Any = scope.get("extensions")
            extensions: dict[str, Any] = dict(given or {})
            extensions[CLOSE_CONNECTION] = self.close_connection
            scope["extensions"] = extensions  # type: ignore[typeddict-unknown-key]
            await inner(scope, receive, send)

        self.app = app

    def close_connection(self) -> None:
        self.transport.close()


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to whoever runs it (two servers share them)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _check_loopback(host: str) -> None:
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the emulator listens on loopback only, not {host!r}")


def _bind(host: str, port: int) -> socket.socket:
    _check_loopback(host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1" if host == "localhost" else host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _url(scheme: str, host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


class _Emulator:
    """Two bound sockets, their URLs, and a uvicorn server per region."""

    def __init__(
        self,
        state: EmulatorState,
        host: str,
        us_port: int,
        eu_port: int,
        ssl_certfile: str | None,
        ssl_keyfile: str | None,
    ) -> None:
        self.sockets = [_bind(host, us_port)]
        try:
            self.sockets.append(_bind(host, eu_port))
        except OSError:
            self.sockets[0].close()
            raise
        scheme = "https" if ssl_certfile else "http"
        self.urls = EmulatorUrls(*(_url(scheme, host, sock) for sock in self.sockets))
        apps = [
            create_app(state, "us", other_region_url=self.urls.eu),
            create_app(state, "eu", other_region_url=self.urls.us),
        ]
        self.servers = [
            _Server(
                uvicorn.Config(
                    app,
                    http=DroppableH11Protocol,
                    lifespan="off",
                    log_level="warning",
                    access_log=False,
                    ssl_certfile=ssl_certfile,
                    ssl_keyfile=ssl_keyfile,
                    timeout_graceful_shutdown=2,
                )
            )
            for app in apps
        ]

    async def serve(self) -> None:
        await asyncio.gather(
            *(
                server.serve(sockets=[sock])
                for server, sock in zip(self.servers, self.sockets, strict=True)
            )
        )

    def stop(self) -> None:
        for server in self.servers:
            server.should_exit = True

    @property
    def started(self) -> bool:
        return all(server.started for server in self.servers)


def run_emulator(
    state: EmulatorState,
    host: str = "127.0.0.1",
    us_port: int = 8010,
    eu_port: int = 8011,
    *,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    on_ready: Callable[[EmulatorUrls], None] | None = None,
) -> None:
    """Serve both regions until SIGINT/SIGTERM; `on_ready` gets the URLs once bound."""
    emulator = _Emulator(state, host, us_port, eu_port, ssl_certfile, ssl_keyfile)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, emulator.stop)
        serving = asyncio.ensure_future(emulator.serve())
        while not emulator.started and not serving.done():
            await asyncio.sleep(0.02)
        if on_ready is not None and emulator.started:
            on_ready(emulator.urls)
        await serving

    asyncio.run(main())


@contextlib.contextmanager
def serve_in_thread(
    state: EmulatorState,
    us_port: int = 0,
    eu_port: int = 0,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    host: str = "127.0.0.1",
) -> Iterator[EmulatorUrls]:
    """Both regions on a background thread; yields the bound URLs, stops on exit."""
    emulator = _Emulator(state, host, us_port, eu_port, ssl_certfile, ssl_keyfile)
    thread = threading.Thread(
        target=asyncio.run, args=(emulator.serve(),), name="cio-emulator", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + STARTUP_SECONDS
    while not emulator.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            emulator.stop()
            for sock in emulator.sockets:
                sock.close()
            raise RuntimeError("the Customer.io emulator did not start")
        time.sleep(0.01)
    try:
        yield emulator.urls
    finally:
        emulator.stop()
        thread.join(STARTUP_SECONDS)
