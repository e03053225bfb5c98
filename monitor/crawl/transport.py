"""A transport of kept-alive HTTP/1.1 connections, for one worker's client.

httpx's own transport (httpcore) costs about half a millisecond of CPU per request: its pool,
its connection's state machine, anyio's streams, h11 and its tracing. A crawl of 2,000 pages
on loopback spent more time there than in everything else. :class:`ListingTransport` is a
plain :class:`httpx.AsyncBaseTransport` that does what a crawl needs, behind the same client:

- a connection is opened for a request when none is idle, and kept after it while the server
  allows (HTTP/1.1 without ``Connection: close``, the whole body read, nothing after it); one
  idle connection is kept (a worker sends one request at a time); one the server closed while
  idle is not used again;
- HTTP/1.1 only, no proxies (:class:`~monitor.crawl.fetch.Clients` keeps httpx's transport
  when the environment names a proxy); TLS with the client's :class:`ssl.SSLContext` (its
  verification, CA bundle and client certificate), ALPN ``http/1.1``, SNI of the URL's host;
- responses are read as h11 reads them (RFC 9112): no body for HEAD, 1xx, 204 and 304; else
  ``Transfer-Encoding: chunked`` (no other coding), else one ``Content-Length``, else until
  the connection closes. A head (or a chunk's header, or its trailer) over 100 KiB, a status
  line or header line that is not HTTP, or conflicting lengths are a
  :class:`httpx.RemoteProtocolError`; so is a body cut short, in httpcore's words;
- errors are httpx's, their cause the ``OSError`` or ``SSLError`` underneath: ``ConnectError``
  and ``ConnectTimeout``, ``WriteError`` and ``WriteTimeout``, ``ReadError`` and
  ``ReadTimeout``; the timeouts are the request's (``extensions["timeout"]``);
- the response's ``network_stream`` extension answers ``get_extra_info`` for ``server_addr``,
  ``client_addr``, ``ssl_object`` and ``socket``, as httpcore's does;
- a body framed by ``Content-Length`` can instead be read straight into the caller's buffers
  (:func:`raw_body`, :class:`RawBody`: big downloads, one copy instead of four), or whole in
  one wait (:meth:`_Body.read_whole`: small downloads);
- :meth:`ListingTransport.get` sends a GET whose head was made once and returns the response
  without httpx's models (:class:`Reply`): for downloads of many small files, where building
  those cost as much as the rest.

Each connection is its own asyncio protocol (:class:`_Connection`, a ``BufferedProtocol``):
the bytes received go into its buffer, and a reader waits for as many as it needs with one
wake-up (streams woke it for every 64 KiB and copied each part three times).
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import httpx

#: The most a head, a chunk header or a trailer may hold (httpcore's limit for h11).
MAX_HEAD = 100 * 1024
_READ = 64 * 1024
#: Reading pauses while this much was received and not used (unless a caller wants more).
_HIGH = 256 * 1024
_PORTS = {b"http": 80, b"https": 443}
#: httpcore's names for a connection's facts → asyncio's.
_EXTRA_INFO = {
    "server_addr": "peername",
    "client_addr": "sockname",
    "ssl_object": "ssl_object",
    "socket": "socket",
}

# h11's grammar (h11/_abnf.py), as bytes patterns.
_FIELD_VCHAR = rb"[^\x00\s]"
_FIELD_VALUE = rb"(?:%s+(?:[ \t]+%s+)*)?" % (_FIELD_VCHAR, _FIELD_VCHAR)
_HEADER = re.compile(rb"([-!#$%%&'*+.^_`|~0-9a-zA-Z]+):[ \t]*(%s)[ \t]*" % _FIELD_VALUE)
_STATUS = re.compile(rb"HTTP/([0-9]\.[0-9]) ([0-9]{3})(?: ((?:[ \t]|[^\x00\s])*))?")
_CHUNK = re.compile(rb"([0-9A-Fa-f]{1,20})(?:;.*)?[ \t]*\r\n")
_LENGTH = re.compile(rb"[0-9]{1,20}")
_BLANK_LINE = re.compile(rb"\n\r?\n")
_SENT_NAME = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_SENT_VALUE = re.compile(_FIELD_VALUE)
_SENT_TARGET = re.compile(rb"[\x21-\x7e]+")


class _Connection(asyncio.BufferedProtocol):
    """One connection, as the protocol of its asyncio transport: the bytes received go into
    ``buffer`` (what was read and not used yet), or straight into a caller's view while a
    :class:`RawBody` fills one. Reading pauses while ``buffer`` holds :data:`_HIGH` bytes
    or more, unless a caller waits for more than that.
    """

    __slots__ = (
        "_clock",
        "_last",
        "_paused",
        "_recv",
        "_sending",
        "_waiter",
        "_want",
        "buffer",
        "ended",
        "error",
        "filled",
        "transport",
        "view",
    )

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.ended = False  # the server closed its side (or the connection was lost)
        self.error: BaseException | None = None
        #: The caller's view being filled (:meth:`fill_view`), and how much of it is.
        self.view: memoryview | None = None
        self.filled = 0
        self._recv = memoryview(bytearray(_READ))
        self._want = 0
        self._last = 0.0  # when bytes last came (the loop's clock)
        self._clock = time.monotonic
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._sending: asyncio.Future[None] | None = None

    # The protocol's side (called by the event loop).

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self._clock = asyncio.get_running_loop().time

    def get_buffer(self, sizehint: int) -> memoryview:
        view = self.view
        if view is not None and self.filled < len(view):
            return view[self.filled :]
        return self._recv

    def buffer_updated(self, nbytes: int) -> None:
        self._last = self._clock()
        view = self.view
        if view is not None and self.filled < len(view):
            self.filled += nbytes
            if self.filled == len(view):
                self._wake()
            return
        self.buffer += self._recv[:nbytes]
        if len(self.buffer) >= self._want:
            self._wake()
        if len(self.buffer) >= max(_HIGH, self._want) and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.ended = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self.error = self.error or exc
        self._wake()
        sending, self._sending = self._sending, None
        if sending is not None and not sending.done():
            sending.set_result(None)

    def pause_writing(self) -> None:
        if self._sending is None:
            self._sending = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        sending, self._sending = self._sending, None
        if sending is not None and not sending.done():
            sending.set_result(None)

    def listen(self) -> None:
        """Read again if reading was paused (a connection kept idle must see the server
        close it); its buffer is empty then, or it is not kept."""
        if self._paused and self.transport is not None and len(self.buffer) < _HIGH:
            self._paused = False
            self.transport.resume_reading()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # The caller's side.

    def usable(self) -> bool:
        """Whether it may carry another request: open, and nothing left unread."""
        return not (self.buffer or self.ended or self.transport is None
                    or self.transport.is_closing())  # fmt: skip

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    async def drain(self) -> None:
        """Wait while the transport's write buffer is full; the connection's error if lost."""
        if self._sending is not None:
            await self._sending
        if self.ended and self.error is not None:
            raise self.error

    async def _wait(self, want: int, timeout: float | None) -> None:
        """Wait until ``buffer`` holds ``want`` bytes, the view is full or the connection ends;
        :class:`httpx.ReadTimeout` after ``timeout`` seconds without a byte."""
        loop = asyncio.get_running_loop()
        self._want = want
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        try:
            deadline = None if timeout is None else loop.time() + timeout
            while not self.ended:
                waiter = self._waiter = loop.create_future()
                timer = None if deadline is None else loop.call_at(deadline, _expire, waiter)
                try:
                    await waiter
                finally:
                    if timer is not None:
                        timer.cancel()
                if waiter.result() is _EXPIRED:
                    assert timeout is not None and deadline is not None
                    deadline = max(self._last, deadline - timeout) + timeout
                    if deadline <= loop.time():
                        raise httpx.ReadTimeout("timed out while reading the response")
                    continue  # bytes came meanwhile: silent for less than the timeout
                if len(self.buffer) >= want or (self.view is not None
                                                and self.filled == len(self.view)):  # fmt: skip
                    return
        finally:
            self._waiter = None
            self._want = 0

    async def fill(self, timeout: float | None, want: int = 0) -> bool:
        """Read more into the buffer (until it holds ``want`` bytes, if more than now);
        False when the server closed the connection first."""
        before = len(self.buffer)
        if not self.ended:
            await self._wait(max(want, before + 1), timeout)
        if len(self.buffer) > before:
            return True
        self._raise_error()
        return False

    async def read(self, timeout: float | None) -> bytes:
        """What the buffer holds, or the next bytes that come (b"" at the end)."""
        if not self.buffer and not await self.fill(timeout):
            return b""
        part = bytes(self.buffer)
        self.buffer.clear()
        return part

    async def fill_view(self, view: memoryview, timeout: float | None) -> int:
        """Fill ``view``, what the buffer holds first; fewer bytes only when the connection
        ended first."""
        count = min(len(self.buffer), len(view))
        view[:count] = self.buffer[:count]
        del self.buffer[:count]
        if count < len(view) and not self.ended:
            self.view, self.filled = view, count
            try:
                await self._wait(0, timeout)
            finally:
                count = self.filled
                self.view, self.filled = None, 0
        if count < len(view):
            self._raise_error()
        return count

    def _raise_error(self) -> None:
        error = self.error
        if error is not None:
            raise httpx.ReadError(str(error) or type(error).__name__) from error

    async def line(self, timeout: float | None, what: str) -> bytes:
        """The next line of a chunked body, its ending kept."""
        start = 0
        while (end := self.buffer.find(b"\n", start)) < 0:
            start = len(self.buffer)
            if start > MAX_HEAD:
                raise httpx.RemoteProtocolError(f"{what} over {MAX_HEAD // 1024} KiB")
            if not await self.fill(timeout):
                raise httpx.RemoteProtocolError(_cut("incomplete chunked read"))
        line = bytes(self.buffer[: end + 1])
        del self.buffer[: end + 1]
        return line

    def close(self) -> None:
        """Close at once, without TLS's goodbye (as httpcore does)."""
        if self.transport is not None:
            self.transport.abort()


#: What a timer sets on a waiter when its time is up.
_EXPIRED: Any = object()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(_EXPIRED)


class _NetworkStream:
    """What httpcore's ``network_stream`` extension tells: the connection's addresses, TLS."""

    def __init__(self, transport: asyncio.BaseTransport | None) -> None:
        self._transport = transport

    def get_extra_info(self, info: str) -> Any:
        name = _EXTRA_INFO.get(info)
        if name is None or self._transport is None:
            return None
        return self._transport.get_extra_info(name)


def _cut(detail: str) -> str:
    return f"peer closed connection without sending complete message body: {detail}"


class ListingTransport(httpx.AsyncBaseTransport):
    """Requests over kept-alive HTTP/1.1 connections; see the module docstring.

    ``verify`` is the client's: an :class:`ssl.SSLContext`, or a bool for httpx's default
    context with or without verification.
    """

    def __init__(self, verify: ssl.SSLContext | bool = True) -> None:
        self._verify = verify
        self._context: ssl.SSLContext | None = None
        self._idle: _Connection | None = None
        self._open: set[_Connection] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts: dict[str, float | None] = request.extensions.get("timeout") or {}
        reply = await self._exchange(request.url, _request_head(request), request, timeouts)
        return httpx.Response(
            reply.status,
            headers=reply.headers,
            stream=reply.body,
            extensions={
                "http_version": b"HTTP/" + reply.version,
                "reason_phrase": reply.reason,
                "network_stream": reply.network_stream,
            },
        )

    async def get(
        self, origin: httpx.URL, head: bytes, timeouts: Mapping[str, float | None]
    ) -> Reply:
        """A GET request whose head (request line and headers, from :func:`request_head`) is
        sent as it is to ``origin``'s server, its response read without httpx's models:
        for many small downloads, where building those cost as much as the rest."""
        return await self._exchange(origin, head, None, timeouts)

    async def _exchange(
        self,
        url: httpx.URL,
        head: bytes,
        request: httpx.Request | None,
        timeouts: Mapping[str, float | None],
    ) -> Reply:
        connection, self._idle = self._idle, None
        if connection is not None and not connection.usable():
            self._drop(connection)
            connection = None
        if connection is None:
            connection = await self._connect(url, timeouts.get("connect"))
        try:
            await self._send(connection, head, request, timeouts.get("write"))
            is_head = request is not None and request.method == "HEAD"
            return await self._response(connection, is_head, timeouts.get("read"))
        except BaseException:
            self._drop(connection)
            raise

    async def aclose(self) -> None:
        self._idle = None
        for connection in list(self._open):
            self._drop(connection)
        await asyncio.sleep(0)  # the sockets close on the loop's next turn

    def _ssl_context(self) -> ssl.SSLContext:
        if self._context is None:
            verify = self._verify
            context = (
                verify
                if isinstance(verify, ssl.SSLContext)
                else httpx.create_ssl_context(verify=verify)
            )
            context.set_alpn_protocols(["http/1.1"])
            self._context = context
        return self._context

    async def _connect(self, url: httpx.URL, timeout: float | None) -> _Connection:
        scheme = url.raw_scheme
        if scheme not in _PORTS:
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
        host = url.raw_host.decode("ascii")
        port = url.port or _PORTS[scheme]
        context = self._ssl_context() if scheme == b"https" else None
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, connection = await loop.create_connection(
                    _Connection, host, port, ssl=context,
                    server_hostname=host if context else None,
                )  # fmt: skip
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"timed out connecting to {host}:{port}") from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        self._open.add(connection)
        return connection

    def _drop(self, connection: _Connection) -> None:
        if connection in self._open:
            self._open.discard(connection)
            connection.close()

    def _release(self, connection: _Connection, keep: bool) -> None:
        """After a response: keep the connection for the next request, or close it."""
        if keep and self._idle is None and connection.usable():
            connection.listen()
            self._idle = connection
        else:
            self._drop(connection)

    async def _send(
        self,
        connection: _Connection,
        head: bytes,
        request: httpx.Request | None,
        timeout: float | None,
    ) -> None:
        if request is None:  # a GET without a body
            connection.send(head)
            return
        chunked = request.headers.get("transfer-encoding", "").lower() == "chunked"
        assert isinstance(request.stream, httpx.AsyncByteStream)
        try:
            async with asyncio.timeout(timeout):
                connection.send(head)
                async for part in request.stream:
                    if chunked and part:
                        connection.send(b"%x\r\n%s\r\n" % (len(part), part))
                    elif part:
                        connection.send(part)
                    await connection.drain()
                if chunked:
                    connection.send(b"0\r\n\r\n")
                await connection.drain()
        except TimeoutError as exc:
            raise httpx.WriteTimeout("timed out while sending the request") from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpx.WriteError(str(exc) or type(exc).__name__) from exc

    async def _response(
        self, connection: _Connection, is_head: bool, timeout: float | None
    ) -> Reply:
        while True:  # 1xx answers come before the response
            head = await _read_head(connection, timeout)
            if head.status >= 200:
                break
            if head.status == 101:
                raise httpx.RemoteProtocolError("the server switched protocols")
        keep = head.version == b"1.1" and not head.close
        body: AsyncIterator[bytes]
        sized: int | None = None
        if is_head or head.status in (204, 304):
            body = _nothing()
        else:
            body = _framed_body(connection, head, timeout)
            keep = keep and (head.chunked or head.length is not None)
            sized = None if head.chunked else head.length
        return Reply(
            head.status,
            head.headers,
            _Body(self, connection, body, keep, sized, timeout),
            _NetworkStream(connection.transport),
            head.version,
            head.reason,
        )


@dataclass(slots=True)
class Reply:
    """A response as :meth:`ListingTransport.get` reads it: status, headers as received, the
    body (an :class:`httpx.AsyncByteStream`: iterate it, or :func:`raw_body`; ``aclose`` it
    when it is not read to its end) and the connection's facts (``network_stream``)."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: _Body
    network_stream: _NetworkStream
    version: bytes = b"1.1"
    reason: bytes = b""


class _Body(httpx.AsyncByteStream):
    """A response's body as it comes; the connection goes back (or is closed) at its end."""

    def __init__(
        self,
        transport: ListingTransport,
        connection: _Connection,
        parts: AsyncIterator[bytes],
        keep: bool,
        sized: int | None = None,
        timeout: float | None = None,
    ) -> None:
        self._transport, self._connection = transport, connection
        self._parts, self._keep = parts, keep
        self._done = False
        #: The body's Content-Length (framed by it), and the read timeout: for :func:`raw_body`.
        self._sized, self._timeout = sized, timeout
        self._started = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self._started = True
        try:
            async for part in self._parts:
                yield part
        except BaseException:
            self._finish(keep=False)
            raise
        self._finish(keep=self._keep)

    async def aclose(self) -> None:
        self._finish(keep=False)  # a body not read to its end leaves bytes on the wire

    def whole(self) -> bool:
        """Whether :meth:`read_whole` can read it: framed by Content-Length, not read yet."""
        return self._sized is not None and not self._started

    async def read_whole(self) -> bytes:
        """The whole body at once (see :meth:`whole`): one wait for all of its bytes, one
        copy; the connection is then kept as after iterating it. A body cut short is
        :class:`httpx.RemoteProtocolError`, in httpcore's words."""
        assert self.whole(), "a body framed by Content-Length, not read yet"
        self._started = True
        length, connection = self._sized or 0, self._connection
        try:
            while len(connection.buffer) < length:
                if not await connection.fill(self._timeout, want=length):
                    got = len(connection.buffer)
                    raise httpx.RemoteProtocolError(
                        _cut(f"received {got} bytes, expected {length}")
                    )
            if len(connection.buffer) == length:
                data = bytes(connection.buffer)
                connection.buffer.clear()
            else:
                with memoryview(connection.buffer) as view:
                    data = bytes(view[:length])
                del connection.buffer[:length]
        except BaseException:
            self._finish(keep=False)
            raise
        self._finish(keep=self._keep)
        return data

    def _finish(self, *, keep: bool) -> None:
        if not self._done:
            self._done = True
            self._transport._release(self._connection, keep)


def _request_head(request: httpx.Request) -> bytes:
    """The request line and headers; a header that could split the request is refused."""
    return request_head(request.method.encode("ascii"), request.url.raw_path, request.headers.raw)


def request_head(method: bytes, target: bytes, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """A request line and headers, ready to send (see :func:`request_line`,
    :func:`header_block`)."""
    return request_line(method, target) + header_block(headers)


def request_line(method: bytes, target: bytes) -> bytes:
    """A request line; ``target`` (the URL's path and query, as sent) that could split the
    request is :class:`httpx.LocalProtocolError`."""
    if not _SENT_TARGET.fullmatch(target):
        raise httpx.LocalProtocolError(f"illegal request target {target[:100]!r}")
    return b"%s %s HTTP/1.1\r\n" % (method, target)


def header_block(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Header lines and the blank line after them; a header that could split the request is
    :class:`httpx.LocalProtocolError`."""
    lines = []
    for name, value in headers:
        if not (_SENT_NAME.fullmatch(name) and _SENT_VALUE.fullmatch(value)):
            raise httpx.LocalProtocolError(f"illegal header {name!r}")
        lines.append(b"%s: %s\r\n" % (name, value))
    lines.append(b"\r\n")
    return b"".join(lines)


@dataclass(slots=True)
class _Head:
    """A response's status line and headers, with what frames its body."""

    version: bytes
    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    length: int | None = None
    chunked: bool = False
    close: bool = False  # "Connection: close"


async def _read_head(connection: _Connection, timeout: float | None) -> _Head:
    """The next response head."""
    start = 0
    while (end := _BLANK_LINE.search(connection.buffer, start)) is None:
        if len(connection.buffer) > MAX_HEAD:
            raise httpx.RemoteProtocolError(f"response head over {MAX_HEAD // 1024} KiB")
        start = max(0, len(connection.buffer) - 2)
        if not await connection.fill(timeout):
            if connection.buffer:
                raise httpx.RemoteProtocolError("peer closed connection in a response's head")
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
    head = bytes(connection.buffer[: end.start()])
    del connection.buffer[: end.end()]
    status_line, *lines = head.split(b"\n")
    found = _STATUS.fullmatch(status_line.removesuffix(b"\r"))
    if found is None:
        raise httpx.RemoteProtocolError(f"illegal status line: {status_line[:100]!r}")
    parsed = _Head(found.group(1), int(found.group(2)), found.group(3) or b"", [])
    for name, value in _header_fields(lines):
        _add_header(parsed, name, value)
    return parsed


def _header_fields(lines: list[bytes]) -> list[tuple[bytes, bytes]]:
    """Header lines (CR and obsolete folding allowed, as h11 does) as (name, value) pairs."""
    unfolded: list[bytes] = []
    for line in lines:
        line = line.removesuffix(b"\r")
        if line[:1] in (b" ", b"\t") and unfolded:
            unfolded[-1] += b" " + line.strip(b" \t")
        else:
            unfolded.append(line)
    fields = []
    for line in unfolded:
        found = _HEADER.fullmatch(line)
        if found is None:
            raise httpx.RemoteProtocolError(f"illegal header line: {line[:100]!r}")
        fields.append((found.group(1), found.group(2)))
    return fields


def _add_header(head: _Head, name: bytes, value: bytes) -> None:
    """Add a header as h11 keeps it: one Content-Length, ``chunked`` the only coding."""
    lower = name.lower()
    if lower == b"content-length":
        lengths = {length.strip() for length in value.split(b",")}
        value = lengths.pop()
        if lengths or not _LENGTH.fullmatch(value):
            raise httpx.RemoteProtocolError("bad or conflicting Content-Length")
        if head.length is not None:
            if head.length != int(value):
                raise httpx.RemoteProtocolError("conflicting Content-Length headers")
            return
        head.length = int(value)
    elif lower == b"transfer-encoding":
        value = value.lower()
        if head.chunked or value != b"chunked":
            raise httpx.RemoteProtocolError("Only Transfer-Encoding: chunked is supported")
        head.chunked = True
    elif lower == b"connection":
        head.close = head.close or b"close" in (v.strip() for v in value.lower().split(b","))
    head.headers.append((name, value))


def _framed_body(
    connection: _Connection, head: _Head, timeout: float | None
) -> AsyncIterator[bytes]:
    if head.chunked:
        return _chunked(connection, timeout)
    if head.length is not None:
        return _sized(connection, head.length, timeout)
    return _until_close(connection, timeout)


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # an async generator that yields nothing


async def _sized(
    connection: _Connection, length: int, timeout: float | None, *, chunk: bool = False
) -> AsyncIterator[bytes]:
    received = 0
    while received < length:
        if not connection.buffer and not await connection.fill(timeout):
            detail = "incomplete chunked read" if chunk else f"received {received} bytes"
            raise httpx.RemoteProtocolError(
                _cut(detail if chunk else f"{detail}, expected {length}")
            )
        part = bytes(connection.buffer[: length - received])
        del connection.buffer[: len(part)]
        received += len(part)
        yield part


async def _chunked(connection: _Connection, timeout: float | None) -> AsyncIterator[bytes]:
    while True:
        header = await connection.line(timeout, "a chunk header")
        found = _CHUNK.fullmatch(header)
        if found is None:
            raise httpx.RemoteProtocolError(f"illegal chunk header: {header[:100]!r}")
        size = int(found.group(1), 16)
        if size == 0:
            break
        async for part in _sized(connection, size, timeout, chunk=True):
            yield part
        while len(connection.buffer) < 2:
            if not await connection.fill(timeout):
                raise httpx.RemoteProtocolError(_cut("incomplete chunked read"))
        if connection.buffer[:2] != b"\r\n":
            raise httpx.RemoteProtocolError("malformed chunk footer")
        del connection.buffer[:2]
    trailer = 0
    while (line := await connection.line(timeout, "a trailer")) not in (b"\r\n", b"\n"):
        trailer += len(line)
        if trailer > MAX_HEAD:
            raise httpx.RemoteProtocolError(f"a trailer over {MAX_HEAD // 1024} KiB")


async def _until_close(connection: _Connection, timeout: float | None) -> AsyncIterator[bytes]:
    if connection.buffer:
        part = bytes(connection.buffer)
        connection.buffer.clear()
        yield part
    while part := await connection.read(timeout):
        yield part


def raw_body(response: httpx.Response | Reply) -> RawBody | None:
    """The body of ``response`` for :class:`RawBody` reads, or None when it cannot be: not a
    response of :class:`ListingTransport`, not framed by ``Content-Length``, or already read."""
    stream = response.body if isinstance(response, Reply) else response.stream
    if not isinstance(stream, _Body) or stream._sized is None or stream._started:
        return None
    stream._started = True
    return RawBody(stream)


class RawBody:
    """A body framed by ``Content-Length``, read straight into the caller's buffers.

    For big downloads: the connection receives into the buffer that :meth:`readinto` is given
    (one copy, from the kernel) instead of into its own buffer and out of it as ``bytes``. The
    connection is closed at the end of the body or on any error, never kept for another
    request. Errors are the transport's: a body cut short is
    :class:`httpx.RemoteProtocolError`, a read refused :class:`httpx.ReadError`, ``timeout``
    seconds without a byte :class:`httpx.ReadTimeout`.
    """

    def __init__(self, body: _Body) -> None:
        self._body = body
        self._connection = body._connection
        self.length = body._sized or 0
        self.received = 0
        self._timeout = body._timeout

    async def readinto(self, view: memoryview) -> int:
        """Fill ``view`` (at most the rest of the body); the bytes read, 0 at the body's end."""
        view = view[: self.length - self.received]
        if not view:
            self.close()
            return 0
        try:
            count = await self._connection.fill_view(view, self._timeout)
        except BaseException:
            self.close()
            raise
        if count < len(view):
            self.close()
            detail = f"received {self.received + count} bytes, expected {self.length}"
            raise httpx.RemoteProtocolError(_cut(detail))
        self.received += count
        if self.received == self.length:
            self.close()
        return count

    def close(self) -> None:
        """Close the connection (the rest of the body, if any, is not read)."""
        self._body._finish(keep=False)
