"""An asyncio-native network backend for httpcore: sockets read by the loop, TLS in C.

httpcore's default backend goes through anyio: every read and write enters a cancel
scope with a timer (`fail_after`), asks sniffio which library is running, and does TLS
in Python over memory BIOs; every look at an idle connection (`is_readable`) walks
anyio's extra attributes. Here a connection is a non-blocking socket (an
`ssl.SSLSocket` once TLS is started, so OpenSSL reads and writes the socket itself)
watched by the event loop for as long as it is open: what arrives is read into a
buffer at once, so `read()` returns buffered bytes without a timer, and arms one
(`loop.call_later`) only when it has to wait. Writes are held until the next read (a
request's head and body go out as one TLS record, one system call) or until they
reach `HOLD_BYTES`. Only httpcore's public backend interface is implemented
(`httpcore.AsyncNetworkBackend`, `httpcore.AsyncNetworkStream`), with httpcore's
exceptions, which httpx's transports map to httpx's. It needs a loop that watches file
descriptors (`loop.add_reader`: asyncio's selector loop, uvloop), not Windows'
proactor loop.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable, Iterable
from typing import Any

import httpcore

READ_BYTES = 65536
HOLD_BYTES = 65536  # held writes beyond this go out at once

_WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """TCP connections (TLS started on them by httpcore) on the running asyncio loop."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                sock = await _connected(loop, host, port, local_address, socket_options or ())
        except TimeoutError as error:
            raise httpcore.ConnectTimeout(f"no connection to {host}:{port} in time") from error
        except OSError as error:
            raise httpcore.ConnectError(str(error) or type(error).__name__) from error
        return SocketStream(sock, loop)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def _connected(
    loop: asyncio.AbstractEventLoop,
    host: str,
    port: int,
    local_address: str | None,
    socket_options: Iterable[Any],
) -> socket.socket:
    """A connected non-blocking socket to the first address of `host` that answers."""
    addresses = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    last: OSError = OSError(f"{host} has no address")
    for family, kind, proto, _, address in addresses:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for option in socket_options:
                sock.setsockopt(*option)
            if local_address is not None:
                sock.bind((local_address, 0))
            await loop.sock_connect(sock, address)
        except OSError as error:
            sock.close()
            last = error
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise last


class SocketStream(httpcore.AsyncNetworkStream):
    """One connection: the loop reads it into `buffer` as data arrives."""

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        self.sock = sock
        self.loop = loop
        self.buffer = bytearray()
        self.held: list[bytes] = []  # written, not sent yet
        self.held_bytes = 0
        self.eof = False
        self.error: OSError | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.timed_out = False
        loop.add_reader(sock.fileno(), self._readable)

    # -- the loop's side ------------------------------------------------------------

    def _readable(self) -> None:
        sock = self.sock
        try:
            data = sock.recv(READ_BYTES)
            if isinstance(sock, ssl.SSLSocket):
                while data and sock.pending():  # the rest of a TLS record, already read
                    data += sock.recv(READ_BYTES)
        except ssl.SSLWantWriteError:  # TLS 1.2 renegotiation: the read goes on once
            self.loop.add_writer(sock.fileno(), self._readable_after_write)  # writable
            return
        except _WOULD_BLOCK:
            return  # a TLS record not complete yet, or one with no data (a session ticket)
        except OSError as error:
            self.error = error
            data = b""
        if data:
            self.buffer += data
        else:
            self.eof = True
            self.loop.remove_reader(sock.fileno())
        self._wake()

    def _readable_after_write(self) -> None:
        self.loop.remove_writer(self.sock.fileno())
        self._readable()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _expire(self) -> None:
        self.timed_out = True
        self._wake()

    async def _wait(self, timeout: float | None, until: Callable[[], bool]) -> bool:
        """Wait for `until()` (checked after each wake); False when `timeout` passes first."""
        self.timed_out = False
        timer = None if timeout is None else self.loop.call_later(timeout, self._expire)
        try:
            while not until():
                if self.timed_out:
                    return False
                waiter = self.waiter = self.loop.create_future()
                try:
                    await waiter
                finally:
                    self.waiter = None
            return True
        finally:
            if timer is not None:
                timer.cancel()

    # -- httpcore's side --------------------------------------------------------------

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self.held:
            await self._send_held(timeout)
        if not self._has_data() and not await self._wait(timeout, self._has_data):
            raise httpcore.ReadTimeout("no data from the server in time")
        if self.closed:
            raise httpcore.ReadError("the connection is closed")
        if not self.buffer:
            if self.error is not None:
                raise httpcore.ReadError(str(self.error) or type(self.error).__name__)
            return b""  # the server closed its side
        data = bytes(self.buffer[:max_bytes])
        del self.buffer[:max_bytes]
        return data

    def _has_data(self) -> bool:
        return bool(self.buffer) or self.eof or self.closed

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        if self.closed:
            raise httpcore.WriteError("the connection is closed")
        self.held.append(buffer)
        self.held_bytes += len(buffer)
        if self.held_bytes >= HOLD_BYTES:
            await self._send_held(timeout)

    async def _send_held(self, timeout: float | None) -> None:
        data = self.held[0] if len(self.held) == 1 else b"".join(self.held)
        self.held.clear()
        self.held_bytes = 0
        view = memoryview(data)
        while view:
            try:
                sent = self.sock.send(view)
            except _WOULD_BLOCK:
                if not await self._writable(timeout):
                    raise httpcore.WriteTimeout("the server took no data in time") from None
                continue
            except OSError as error:
                raise httpcore.WriteError(str(error) or type(error).__name__) from error
            view = view[sent:]

    async def _writable(self, timeout: float | None) -> bool:
        ready = False

        def writable() -> None:
            nonlocal ready
            ready = True
            self._wake()

        fileno = self.sock.fileno()
        self.loop.add_writer(fileno, writable)
        try:
            return await self._wait(timeout, lambda: ready or self.closed) and not self.closed
        finally:
            if not self.closed:
                self.loop.remove_writer(fileno)

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.held.clear()
        fileno = self.sock.fileno()
        if fileno >= 0:
            self.loop.remove_reader(fileno)
            self.loop.remove_writer(fileno)
        self.sock.close()
        self._wake()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """TLS on this connection: a new stream over the wrapped socket (this one is done)."""
        if self.held:
            await self._send_held(timeout)
        self.loop.remove_reader(self.sock.fileno())
        self.closed = True  # the new stream owns the socket
        plain = self.sock
        try:
            sock = ssl_context.wrap_socket(
                plain, server_hostname=server_hostname, do_handshake_on_connect=False
            )
        except (OSError, ValueError) as error:
            plain.close()
            raise httpcore.ConnectError(str(error)) from error
        try:
            async with asyncio.timeout(timeout):
                await _handshake(self.loop, sock)
        except TimeoutError as error:
            sock.close()
            raise httpcore.ConnectTimeout("no TLS handshake in time") from error
        except OSError as error:  # ssl.SSLError (a certificate refused) is one
            sock.close()
            raise httpcore.ConnectError(str(error) or type(error).__name__) from error
        except BaseException:
            sock.close()
            raise
        return SocketStream(sock, self.loop)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # httpcore: an idle connection the server has closed
            return bool(self.buffer) or self.eof
        if info == "ssl_object":
            return self.sock if isinstance(self.sock, ssl.SSLSocket) else None
        if info == "socket":
            return self.sock
        if info == "client_addr":
            return self.sock.getsockname()
        if info == "server_addr":
            return self.sock.getpeername()
        return None


async def _handshake(loop: asyncio.AbstractEventLoop, sock: ssl.SSLSocket) -> None:
    """The TLS handshake of a non-blocking socket, waiting on the loop when it must."""
    fileno = sock.fileno()
    while True:
        try:
            sock.do_handshake()
            return
        except ssl.SSLWantReadError:
            add, remove = loop.add_reader, loop.remove_reader
        except ssl.SSLWantWriteError:
            add, remove = loop.add_writer, loop.remove_writer
        ready: asyncio.Future[None] = loop.create_future()
        add(fileno, _settle, ready)
        try:
            await ready
        finally:
            remove(fileno)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
