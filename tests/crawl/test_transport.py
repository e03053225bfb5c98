"""ListingTransport against a real socket that answers with scripted bytes.

Every script is also read by httpx's own transport (httpcore and h11): the two must agree on
the status, headers and body, or both refuse the response with the same kind of error.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.crawl.fetch import proxied
from monitor.crawl.transport import ListingTransport, request_head
from tests.servers import free_port, make_cert

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/html\r\n\r\nhello"


@dataclass
class Script:
    """Per connection, the raw answers to its requests in turn; then it is closed (or, with
    ``hang``, left open until the client closes it)."""

    answers: list[bytes]
    hang: bool = False
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    ended: int = 0  # connections the server has closed


async def _serve(
    script: Script, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    script.connections += 1
    try:
        for answer in script.answers:
            script.requests.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(answer)
            await writer.drain()
        if script.hang:
            await reader.read()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
        script.ended += 1


@asynccontextmanager
async def serving(script: Script, context: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    server = await asyncio.start_server(
        lambda r, w: _serve(script, r, w), "127.0.0.1", 0, ssl=context
    )
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"{'https' if context else 'http'}://127.0.0.1:{port}/drop/"


async def fetch(client: httpx.AsyncClient, url: str) -> tuple[Any, ...]:
    """What a response was (status, version, reason, headers, body), or the error's kind."""
    try:
        async with client.stream("GET", url) as response:
            body = b"".join([part async for part in response.aiter_raw()])
    except httpx.TransportError as exc:
        return (type(exc).__name__,)
    return (
        response.status_code,
        response.http_version,
        response.reason_phrase,
        response.headers.raw,
        body,
    )


def both(answer: bytes) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The same one-answer script read by httpx's transport and by ListingTransport."""

    async def one(transport: httpx.AsyncBaseTransport) -> tuple[Any, ...]:
        async with (
            serving(Script([answer])) as url,
            httpx.AsyncClient(transport=transport, timeout=5) as client,
        ):
            return await fetch(client, url)

    return asyncio.run(one(httpx.AsyncHTTPTransport())), asyncio.run(one(ListingTransport()))


BIG = b"x" * 200_000
AGREED = {
    "length": OK,
    "big": b"HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n" + BIG,
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nX-Trailer: t\r\n\r\n",
    "chunked-over-length": b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n"
    b"Transfer-Encoding: Chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
    "until-close": b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>all</html>",
    "http-1.0": b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi",
    "no-reason": b"HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n",
    "204": b"HTTP/1.1 204 No Content\r\n\r\n",
    "304": b"HTTP/1.1 304 Not Modified\r\nContent-Length: 40\r\n\r\n",
    "100-continue": b"HTTP/1.1 100 Continue\r\n\r\n" + OK,
    "bare-lf": b"HTTP/1.1 200 OK\nContent-Length: 2\n\nhi",
    "folded": b"HTTP/1.1 200 OK\r\nX-Long: a\r\n  b\r\nContent-Length: 0\r\n\r\n",
    "spaces": b"HTTP/1.1 200 OK\r\nX-Pad:   a  b   \r\nContent-Length: 0\r\n\r\n",
    "same-lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nhi",
    "latin-1": b"HTTP/1.1 200 OK\r\nX-Name: caf\xe9\r\nContent-Length: 0\r\n\r\n",
    "conflicting-lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi",
    "bad-length": b"HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\nhi",
    "gzip-coding": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx",
    "not-http": b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
    "bad-status": b"HTTP/1.1 2000 OK\r\n\r\n",
    "bad-header": b"HTTP/1.1 200 OK\r\nX Bad: 1\r\nContent-Length: 0\r\n\r\n",
    "nul-in-header": b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n",
    "cut-length": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello",
    "cut-chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
    "bad-chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "bad-chunk-end": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhiXX0\r\n\r\n",
    "cut-head": b"HTTP/1.1 200 OK\r\nContent-Le",
    "nothing": b"",
    "huge-head": b"HTTP/1.1 200 OK\r\n" + b"X-Fill: " + b"y" * 200_000 + b"\r\n\r\n",
    "switching": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
}


@pytest.mark.parametrize("answer", AGREED.values(), ids=AGREED.keys())
def test_reads_every_response_as_httpx_does(answer: bytes) -> None:
    theirs, ours = both(answer)
    assert ours == theirs


def test_a_cut_body_is_told_in_httpcores_words() -> None:
    async def go() -> str:
        async with (
            serving(Script([AGREED["cut-length"]])) as url,
            httpx.AsyncClient(transport=ListingTransport()) as client,
        ):
            with pytest.raises(httpx.RemoteProtocolError) as caught:
                await fetch_raising(client, url)
        return str(caught.value)

    assert asyncio.run(go()) == (
        "peer closed connection without sending complete message body: "
        "received 5 bytes, expected 10"
    )


async def fetch_raising(client: httpx.AsyncClient, url: str) -> bytes:
    async with client.stream("GET", url) as response:
        return b"".join([part async for part in response.aiter_raw()])


def run_requests(
    script: Script, count: int, between: Callable[[ListingTransport], Any] | None = None
) -> list[tuple[Any, ...]]:
    """``count`` requests in turn through one ListingTransport; what each gave."""

    async def go() -> list[tuple[Any, ...]]:
        transport = ListingTransport()
        results = []
        async with serving(script) as url, httpx.AsyncClient(transport=transport) as client:
            for _ in range(count):
                results.append(await fetch(client, url))
                if between is not None:
                    await between(transport)
        return results

    return asyncio.run(go())


def test_keeps_the_connection_alive() -> None:
    script = Script([OK, OK, OK])
    results = run_requests(script, 3)
    assert [r[0] for r in results] == [200, 200, 200]
    assert script.connections == 1
    first = script.requests[0].decode()
    assert first.startswith("GET /drop/ HTTP/1.1\r\n") and "\r\nHost: 127.0.0.1:" in first


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi",
        b"HTTP/1.1 200 OK\r\n\r\nuntil the close",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiEXTRA",  # bytes after the body
    ],
    ids=["connection-close", "http-1.0", "until-close", "extra-bytes"],
)
def test_a_connection_that_cannot_be_reused_is_not(answer: bytes) -> None:
    script = Script([answer])  # the server answers once per connection
    results = run_requests(script, 2)
    assert [r[0] for r in results] == [200, 200]
    assert script.connections == 2


def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    async def server_closed(transport: ListingTransport) -> None:
        idle = transport._idle
        deadline = asyncio.get_running_loop().time() + 5
        while idle is not None and idle.usable():  # the server's FIN, seen by the loop
            assert asyncio.get_running_loop().time() < deadline, "the close never came"
            await asyncio.sleep(0.01)

    script = Script([OK])  # one answer, then the server closes the connection
    results = run_requests(script, 3, between=server_closed)
    assert [r[0] for r in results] == [200, 200, 200]
    assert script.connections == 3


def test_a_body_left_unread_closes_its_connection() -> None:
    async def go() -> Script:
        script = Script([b"HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n" + BIG, OK])
        async with (
            serving(script) as url,
            httpx.AsyncClient(transport=ListingTransport()) as client,
        ):
            async with client.stream("GET", url) as response:
                async for _ in response.aiter_raw():
                    break
            assert (await fetch(client, url))[0] == 200
        return script

    assert asyncio.run(go()).connections == 2


def test_the_network_stream_tells_the_peer() -> None:
    async def go() -> tuple[Any, Any]:
        async with (
            serving(Script([OK])) as url,
            httpx.AsyncClient(transport=ListingTransport()) as client,
        ):
            async with client.stream("GET", url) as response:
                stream = response.extensions["network_stream"]
                await response.aread()
                return stream.get_extra_info("server_addr"), stream.get_extra_info("ssl_object")

    address, tls = asyncio.run(go())
    assert address[0] == "127.0.0.1" and tls is None


def test_tls_with_the_clients_context(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path, "server")
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)

    async def go(context: ssl.SSLContext) -> tuple[Any, ...]:
        async with (
            serving(Script([OK]), server_side) as url,
            httpx.AsyncClient(transport=ListingTransport(context)) as client,
        ):
            async with client.stream("GET", url) as response:
                tls = response.extensions["network_stream"].get_extra_info("ssl_object")
                return response.status_code, await response.aread(), tls.selected_alpn_protocol()

    assert asyncio.run(go(ssl.create_default_context(cafile=str(cert)))) == (200, b"hello", None)
    with pytest.raises(httpx.ConnectError) as caught:
        asyncio.run(go(ssl.create_default_context()))
    assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)


def test_connect_errors_keep_their_cause() -> None:
    async def go() -> None:
        async with httpx.AsyncClient(transport=ListingTransport()) as client:
            await client.get(f"http://127.0.0.1:{free_port()}/")

    with pytest.raises(httpx.ConnectError) as caught:
        asyncio.run(go())
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


def test_the_read_timeout_is_the_requests() -> None:
    async def go() -> None:
        script = Script([], hang=True)  # never answers
        async with (
            serving(script) as url,
            httpx.AsyncClient(
                transport=ListingTransport(), timeout=httpx.Timeout(5, read=0.2)
            ) as client,
        ):
            await client.get(url)

    with pytest.raises(httpx.ReadTimeout):
        asyncio.run(go())


def test_a_header_that_could_split_the_request_is_refused() -> None:
    async def go() -> None:
        async with (
            serving(Script([OK])) as url,
            httpx.AsyncClient(transport=ListingTransport()) as client,
        ):
            await client.get(url, headers={"X-A": "a\r\nX-Injected: 1"})

    with pytest.raises(httpx.LocalProtocolError):
        asyncio.run(go())


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({}, False),
        ({"HTTP_PROXY": "http://proxy.example:3128"}, True),
        ({"https_proxy": "http://proxy.example:3128"}, True),
        ({"ALL_PROXY": "socks5://proxy.example:1080"}, True),
        ({"NO_PROXY": "example.org"}, False),
    ],
)
def test_a_proxy_in_the_environment_keeps_httpxs_transport(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], expected: bool
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert proxied() is expected


def _get_whole(answers: list[bytes], count: int, read: float = 5.0) -> tuple[list[Any], Script]:
    """``count`` GETs through :meth:`ListingTransport.get`, each body read whole (or the
    error's kind)."""

    async def go() -> tuple[list[Any], Script]:
        script = Script(answers)
        results: list[Any] = []
        async with serving(script) as url:
            origin = httpx.URL(url)
            transport = ListingTransport()
            head = request_head(b"GET", origin.raw_path, [(b"Host", origin.netloc)])
            try:
                for _ in range(count):
                    try:
                        reply = await transport.get(origin, head, {"read": read})
                        assert reply.body.whole()
                        results.append((reply.status, reply.headers, await reply.body.read_whole()))
                        assert not reply.body.whole()  # read once
                    except httpx.TransportError as exc:
                        results.append(type(exc).__name__)
            finally:
                await transport.aclose()
        return results, script

    return asyncio.run(go())


def test_get_reads_a_whole_body_and_keeps_the_connection() -> None:
    big = b"HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n" + BIG
    results, script = _get_whole([OK, big, OK], 3)
    assert [r[0] for r in results] == [200, 200, 200]
    assert [r[2] for r in results] == [b"hello", BIG, b"hello"]
    assert results[0][1] == [(b"Content-Length", b"5"), (b"Content-Type", b"text/html")]
    assert script.connections == 1
    assert script.requests[0].startswith(b"GET /drop/ HTTP/1.1\r\nHost: 127.0.0.1:")


def test_get_a_whole_body_cut_short_is_a_protocol_error() -> None:
    results, _ = _get_whole([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"], 1)
    assert results == ["RemoteProtocolError"]


def test_get_a_stalled_whole_body_times_out() -> None:
    stalled = Script([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"], hang=True)

    async def go() -> None:
        async with serving(stalled) as url:
            origin = httpx.URL(url)
            transport = ListingTransport()
            try:
                head = request_head(b"GET", origin.raw_path, [(b"Host", origin.netloc)])
                reply = await transport.get(origin, head, {"read": 0.2})
                await reply.body.read_whole()
            finally:
                await transport.aclose()

    with pytest.raises(httpx.ReadTimeout):
        asyncio.run(go())


def test_a_body_that_keeps_coming_is_not_a_timeout() -> None:
    """The read timeout is silence: a body whose bytes come slower than the timeout in all,
    but never stop for that long, is read whole."""
    parts = 8

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % parts)
        for _ in range(parts):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.1)
        writer.close()

    async def go() -> bytes:
        server = await asyncio.start_server(trickle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            origin = httpx.URL(f"http://127.0.0.1:{port}/")
            transport = ListingTransport()
            try:
                head = request_head(b"GET", b"/", [(b"Host", origin.netloc)])
                reply = await transport.get(origin, head, {"read": 0.5})
                return await reply.body.read_whole()
            finally:
                await transport.aclose()

    assert asyncio.run(go()) == b"x" * parts


@pytest.mark.parametrize("target", [b"/a b", b"/a\r\nX: 1", b""])
def test_a_request_target_that_could_split_the_request_is_refused(target: bytes) -> None:
    with pytest.raises(httpx.LocalProtocolError):
        request_head(b"GET", target, [])


def test_a_kept_connection_sees_the_server_close_it_after_a_body_read_whole() -> None:
    """A body past the buffer's high mark pauses reading as it completes; the connection kept
    for the next request must read again, or a close by the server while idle would go unseen
    and the next request would go out on a dead connection."""
    size = 300_000
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + b"y" * size
    script = Script([answer])  # one answer per connection, then the server closes it

    async def go() -> list[int]:
        async with serving(script) as url:
            origin = httpx.URL(url)
            transport = ListingTransport()
            head = request_head(b"GET", origin.raw_path, [(b"Host", origin.netloc)])
            statuses = []
            try:
                for _ in range(2):
                    reply = await transport.get(origin, head, {"read": 5})
                    assert len(await reply.body.read_whole()) == size
                    statuses.append(reply.status)
                    idle = transport._idle
                    deadline = asyncio.get_running_loop().time() + 5
                    while idle is not None and idle.usable():  # the server's close, seen
                        assert asyncio.get_running_loop().time() < deadline, "close unseen"
                        await asyncio.sleep(0.01)
            finally:
                await transport.aclose()
            return statuses

    assert asyncio.run(go()) == [200, 200]
    assert script.connections == 2
