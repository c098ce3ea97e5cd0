"""The asyncio network backend under httpcore's pool, against real loopback servers (TLS
from a throwaway trustme CA): round trips, keep-alive, a server that goes away, large
bodies, and each failure as the httpx exception the client's retry logic expects."""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpcore
import httpx
import pytest
import trustme

from signal_dest_cio.netbackend import AsyncioBackend, SocketStream
from signal_dest_cio.transports import PoolTransport

Extensions = dict[str, dict[str, float | None]]
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

CA = trustme.CA()
CERT = CA.issue_cert("127.0.0.1", "localhost")


def client_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    CA.configure_trust(context)
    return context


def server_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    CERT.configure_cert(context)
    context.set_alpn_protocols(["h2", "http/1.1"])  # h2 first: the client must decline it
    return context


class Server:
    """A loopback server running `handler` for each connection, counting connections."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.port = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serving(handler: Handler, tls: bool = True) -> AsyncIterator[Server]:
    server = Server(handler)
    listening = await asyncio.start_server(
        server.serve, "127.0.0.1", 0, ssl=server_context() if tls else None
    )
    server.port = listening.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listening.close()


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One request's head and body (its Content-Length's worth)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head, await reader.readexactly(length)


def answer(body: bytes, close: bool = False) -> bytes:
    connection = b"Connection: close\r\n" if close else b""
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), connection, body)


async def echo_length(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers each request on the connection with its method, path and body length."""
    while True:
        head, body = await read_request(reader)
        method, path, _ = head.split(b"\r\n")[0].split(b" ")
        writer.write(answer(b"%s %s %d" % (method, path, len(body))))
        await writer.drain()


def transport(timeout: float = 5.0) -> tuple[PoolTransport, Extensions]:
    return PoolTransport(client_context(), 4), {"timeout": httpx.Timeout(timeout).as_dict()}


async def post(
    pool: PoolTransport, url: str, content: bytes, extensions: Extensions
) -> httpx.Response:
    request = httpx.Request("POST", url, content=content, extensions=extensions)
    response = await pool.handle_async_request(request)
    await response.aread()
    return response


async def test_an_https_round_trip_comes_back_read_with_its_headers() -> None:
    async with serving(echo_length) as server:
        pool, extensions = transport()
        response = await post(pool, f"https://127.0.0.1:{server.port}/a/b?c=1", b"xyz", extensions)
        await pool.aclose()

    assert response.status_code == 200
    assert response.content == b"POST /a/b?c=1 3"
    assert response.headers["Content-Length"] == "15"
    assert response.extensions["http_version"] == b"HTTP/1.1"


async def test_the_backend_offers_only_http11_by_alpn_and_names_the_tls_object() -> None:
    async with serving(echo_length) as server:
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", server.port, timeout=5)
        context = PoolTransport(client_context(), 4).ssl_context
        tls = await stream.start_tls(context, server_hostname="127.0.0.1", timeout=5)
        ssl_object = tls.get_extra_info("ssl_object")
        assert isinstance(ssl_object, ssl.SSLSocket)
        assert ssl_object.selected_alpn_protocol() == "http/1.1"
        assert tls.get_extra_info("server_addr") == ("127.0.0.1", server.port)
        assert tls.get_extra_info("is_readable") is False  # idle, open
        await tls.aclose()


async def test_sequential_requests_reuse_one_connection() -> None:
    async with serving(echo_length) as server:
        pool, extensions = transport()
        url = f"https://127.0.0.1:{server.port}/"
        bodies = [(await post(pool, url, b"x" * n, extensions)).content for n in range(5)]
        await pool.aclose()

    assert bodies == [b"POST / %d" % n for n in range(5)]
    assert server.connections == 1  # kept alive


async def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(b"done"))  # keep-alive by its headers, then goes anyway
        await writer.drain()

    async with serving(once) as server:
        pool, extensions = transport()
        url = f"https://127.0.0.1:{server.port}/"
        first = await post(pool, url, b"1", extensions)
        await asyncio.sleep(0.1)  # the server's close arrives while the connection is idle
        second = await post(pool, url, b"2", extensions)
        await pool.aclose()

    assert (first.content, second.content) == (b"done", b"done")
    assert server.connections == 2


async def test_connection_close_answers_are_honoured() -> None:
    async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(b"bye", close=True))
        await writer.drain()

    async with serving(closing) as server:
        pool, extensions = transport()
        url = f"https://127.0.0.1:{server.port}/"
        contents = [(await post(pool, url, b"", extensions)).content for _ in range(3)]
        await pool.aclose()

    assert contents == [b"bye"] * 3
    assert server.connections == 3


async def test_a_server_that_hangs_up_without_answering_is_a_remote_protocol_error() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async with serving(hang_up) as server:
        pool, extensions = transport()
        with pytest.raises(httpx.RemoteProtocolError) as raised:
            await post(pool, f"https://127.0.0.1:{server.port}/", b"x", extensions)
        await pool.aclose()

    assert isinstance(raised.value, httpx.TransportError)  # the client's connection_error


async def test_no_answer_in_time_is_a_read_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    async with serving(silent) as server:
        pool, extensions = transport(timeout=0.2)
        started = asyncio.get_running_loop().time()
        with pytest.raises(httpx.ReadTimeout):
            await post(pool, f"https://127.0.0.1:{server.port}/", b"x", extensions)
        waited = asyncio.get_running_loop().time() - started
        await pool.aclose()

    assert 0.15 < waited < 2


async def test_a_server_that_takes_no_data_is_a_write_timeout() -> None:
    async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    async with serving(deaf, tls=False) as server:
        pool, extensions = transport(timeout=0.3)
        with pytest.raises(httpx.WriteTimeout):
            await post(pool, f"http://127.0.0.1:{server.port}/", b"x" * 64_000_000, extensions)
        await pool.aclose()


async def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pool, extensions = transport()
    with pytest.raises(httpx.ConnectError):
        await post(pool, f"https://127.0.0.1:{port}/", b"x", extensions)
    await pool.aclose()


async def test_an_untrusted_certificate_is_a_connect_error() -> None:
    async with serving(echo_length) as server:
        pool = PoolTransport(ssl.create_default_context(), 4)  # does not trust the test CA
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await post(pool, f"https://127.0.0.1:{server.port}/", b"x", {})
        await pool.aclose()


async def test_large_bodies_go_and_come_whole() -> None:
    body = bytes(range(256)) * 40_000  # 10 MB, more than any socket buffer

    async def mirror(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            _, received = await read_request(reader)
            writer.write(answer(received[::-1]))
            await writer.drain()

    async with serving(mirror) as server:
        pool, extensions = transport()
        url = f"https://127.0.0.1:{server.port}/"
        first = await post(pool, url, body, extensions)
        second = await post(pool, url, b"small", extensions)
        await pool.aclose()

    assert first.content == body[::-1]
    assert second.content == b"llams"
    assert server.connections == 1


async def test_many_requests_at_once_share_the_pools_connections() -> None:
    async with serving(echo_length) as server:
        pool, extensions = transport()
        url = f"https://127.0.0.1:{server.port}/"
        responses = await asyncio.gather(
            *(post(pool, f"{url}{n}", b"x" * n, extensions) for n in range(40))
        )
        await pool.aclose()

    assert [r.content for r in responses] == [b"POST /%d %d" % (n, n) for n in range(40)]
    assert server.connections == 4


async def test_a_closed_stream_refuses_reads_and_writes() -> None:
    async with serving(echo_length, tls=False) as server:
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", server.port, timeout=5)
        assert isinstance(stream, SocketStream)
        reading = asyncio.ensure_future(stream.read(100))
        await asyncio.sleep(0.01)
        await stream.aclose()
        with pytest.raises(httpcore.ReadError, match="closed"):
            await reading
        with pytest.raises(httpcore.WriteError, match="closed"):
            await stream.write(b"x")


async def test_a_full_pool_makes_requests_wait_until_the_pool_timeout() -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            await asyncio.sleep(0.5)
            writer.write(answer(b"late"))
            await writer.drain()

    async with serving(slow) as server:
        pool = PoolTransport(client_context(), 1)
        url = f"https://127.0.0.1:{server.port}/"
        extensions = {"timeout": httpx.Timeout(5.0, pool=0.1).as_dict()}
        first = asyncio.ensure_future(post(pool, url, b"1", extensions))
        await asyncio.sleep(0.05)
        with pytest.raises(httpx.PoolTimeout):
            await post(pool, url, b"2", extensions)
        assert (await first).content == b"late"
        waiting = {"timeout": httpx.Timeout(5.0).as_dict()}  # no pool timeout: it waits
        both = await asyncio.gather(post(pool, url, b"3", waiting), post(pool, url, b"4", waiting))
        await pool.aclose()

    assert [response.content for response in both] == [b"late", b"late"]
    assert server.connections == 1


async def test_idle_connections_past_their_keepalive_are_not_used_again() -> None:
    async with serving(echo_length) as server:
        pool = PoolTransport(client_context(), 4, keepalive_expiry=0.05)
        extensions = {"timeout": httpx.Timeout(5.0).as_dict()}
        url = f"https://127.0.0.1:{server.port}/"
        await post(pool, url, b"", extensions)
        await asyncio.sleep(0.15)
        await post(pool, url, b"", extensions)
        assert pool.opened == 1  # the expired one was closed, not kept beside the new one
        await pool.aclose()
        assert pool.opened == 0

    assert server.connections == 2


async def test_a_full_pool_closes_an_idle_connection_to_reach_another_origin() -> None:
    async with serving(echo_length) as first, serving(echo_length) as second:
        pool, extensions = transport()
        pool.connections = 1
        one = await post(pool, f"https://127.0.0.1:{first.port}/one", b"", extensions)
        two = await post(pool, f"https://127.0.0.1:{second.port}/two", b"", extensions)
        assert pool.opened == 1
        await pool.aclose()

    assert (one.content, two.content) == (b"POST /one 0", b"POST /two 0")


async def test_a_cancelled_request_gives_its_connection_slot_back() -> None:
    async def silent_then_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if first_connection.is_set():
            await echo_length(reader, writer)
        first_connection.set()
        await asyncio.sleep(5)

    first_connection = asyncio.Event()
    async with serving(silent_then_echo) as server:
        pool, extensions = transport()
        pool.connections = 1
        url = f"https://127.0.0.1:{server.port}/"
        hanging = asyncio.ensure_future(post(pool, url, b"", extensions))
        await first_connection.wait()
        await asyncio.sleep(0.05)
        hanging.cancel()
        with pytest.raises(asyncio.CancelledError):
            await hanging
        assert pool.opened == 0  # the connection it held is closed, not left half-read
        response = await post(pool, url, b"ok", extensions)
        await pool.aclose()

    assert response.content == b"POST / 2"


async def test_chunked_close_delimited_informational_and_gzip_answers_are_read_whole() -> None:
    packed = gzip.compress(b"unpacked")
    answers = [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
        % (len(packed), packed),
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",  # no length: to EOF
    ]

    async def scripted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while answers:
            await read_request(reader)
            writer.write(answers.pop(0))
            await writer.drain()
        writer.write_eof()

    async with serving(scripted) as server:
        pool, extensions = transport()
        url = f"https://127.0.0.1:{server.port}/"
        got = [await post(pool, url, b"", extensions) for _ in range(4)]
        assert pool.opened == 0  # the last one closed its connection
        await pool.aclose()

    assert [(r.status_code, r.content) for r in got] == [
        (200, b"abcde"),
        (201, b"ok"),
        (200, b"unpacked"),
        (200, b"until the end"),
    ]
    assert server.connections == 1
