"""RawBody (the crawl transport's reader of big bodies, straight into the caller's buffers)
against a raw socket server that sends exactly what each test says: the bytes that came with
the head come first, a body cut short or stalled is an error, the connection is not kept."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from monitor.crawl.transport import ListingTransport, RawBody, raw_body

BODY = os.urandom(3 * 1024 * 1024 + 5)


@contextmanager
def one_shot_server(parts: list[bytes], *, close: bool) -> Iterator[str]:
    """A server that answers one connection with ``parts`` (each sent whole), then closes it
    (``close``) or holds it open until the test is done."""
    done = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            for part in parts:
                conn.sendall(part)
            if not close:
                done.wait(30)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/big.bin"
    finally:
        done.set()
        thread.join(30)
        listener.close()


def _head(length: int) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % length


async def _read_all(url: str, size: int, timeout: float = 10.0) -> tuple[bytes, RawBody]:
    transport = ListingTransport()
    request = httpx.Request("GET", url, extensions={"timeout": {"read": timeout}})
    response = await transport.handle_async_request(request)
    raw = raw_body(response)
    assert raw is not None and raw.length == len(BODY)
    assert raw_body(response) is None  # one reader only
    got = bytearray()
    buffer = memoryview(bytearray(size))
    try:
        while count := await raw.readinto(buffer):
            got += buffer[:count]
    finally:
        await transport.aclose()
    return bytes(got), raw


@pytest.mark.parametrize("size", [1024 * 1024, 4096 + 3])
def test_the_body_comes_whole_with_the_bytes_sent_with_the_head(size: int) -> None:
    parts = [_head(len(BODY)) + BODY[:1000], BODY[1000:200_000], BODY[200_000:]]
    with one_shot_server(parts, close=False) as url:
        got, raw = asyncio.run(_read_all(url, size))
    assert got == BODY and raw.received == len(BODY)


def test_a_body_cut_short_is_a_protocol_error() -> None:
    with one_shot_server([_head(len(BODY)) + BODY[: len(BODY) // 2]], close=True) as url:
        with pytest.raises(httpx.RemoteProtocolError, match="expected"):
            asyncio.run(_read_all(url, 1024 * 1024))


def test_a_stalled_body_times_out() -> None:
    with one_shot_server([_head(len(BODY)) + BODY[: len(BODY) // 2]], close=False) as url:
        with pytest.raises(httpx.ReadTimeout):
            asyncio.run(_read_all(url, 1024 * 1024, timeout=0.3))


def test_a_chunked_body_is_not_read_raw() -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    with one_shot_server([chunked], close=False) as url:

        async def check() -> bytes:
            transport = ListingTransport()
            response = await transport.handle_async_request(httpx.Request("GET", url))
            assert raw_body(response) is None
            body = b"".join([part async for part in response.aiter_raw()])
            await transport.aclose()
            return body

        assert asyncio.run(check()) == b"hello"
