"""A transport of kept-alive HTTP/1.1 connections on asyncio streams, for one worker's client.

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
  (:func:`raw_body`, :class:`RawBody`: big downloads, one copy instead of four).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

import httpx

#: The most a head, a chunk header or a trailer may hold (httpcore's limit for h11).
MAX_HEAD = 100 * 1024
_READ = 64 * 1024
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


class _Connection:
    """One connection: its streams and what was read past the last response."""

    __slots__ = ("buffer", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.buffer = bytearray()

    def usable(self) -> bool:
        """Whether it may carry another request: open, and nothing left unread."""
        return not (self.buffer or self.reader.at_eof() or self.writer.is_closing())

    async def read(self, timeout: float | None) -> bytes:
        """The next bytes that come (b"" at the end), within ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                return await self.reader.read(_READ)
        except TimeoutError as exc:
            raise httpx.ReadTimeout("timed out while reading the response") from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__) from exc

    async def fill(self, timeout: float | None) -> bool:
        """Read more into the buffer; False when the server closed the connection."""
        data = await self.read(timeout)
        self.buffer += data
        return bool(data)

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
        self.writer.transport.abort()


class _NetworkStream:
    """What httpcore's ``network_stream`` extension tells: the connection's addresses, TLS."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    def get_extra_info(self, info: str) -> Any:
        name = _EXTRA_INFO.get(info)
        return self._writer.get_extra_info(name) if name is not None else None


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
        head = _request_head(request)
        connection, self._idle = self._idle, None
        if connection is not None and not connection.usable():
            self._drop(connection)
            connection = None
        if connection is None:
            connection = await self._connect(request.url, timeouts.get("connect"))
        try:
            await self._send(connection, head, request, timeouts.get("write"))
            return await self._response(connection, request, timeouts.get("read"))
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
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=context, server_hostname=host if context else None
                )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"timed out connecting to {host}:{port}") from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        connection = _Connection(reader, writer)
        self._open.add(connection)
        return connection

    def _drop(self, connection: _Connection) -> None:
        if connection in self._open:
            self._open.discard(connection)
            connection.close()

    def _release(self, connection: _Connection, keep: bool) -> None:
        """After a response: keep the connection for the next request, or close it."""
        if keep and self._idle is None and connection.usable():
            self._idle = connection
        else:
            self._drop(connection)

    async def _send(
        self,
        connection: _Connection,
        head: bytes,
        request: httpx.Request,
        timeout: float | None,
    ) -> None:
        chunked = request.headers.get("transfer-encoding", "").lower() == "chunked"
        assert isinstance(request.stream, httpx.AsyncByteStream)
        try:
            async with asyncio.timeout(timeout):
                connection.writer.write(head)
                async for part in request.stream:
                    if chunked and part:
                        connection.writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                    elif part:
                        connection.writer.write(part)
                if chunked:
                    connection.writer.write(b"0\r\n\r\n")
                await connection.writer.drain()
        except TimeoutError as exc:
            raise httpx.WriteTimeout("timed out while sending the request") from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpx.WriteError(str(exc) or type(exc).__name__) from exc

    async def _response(
        self, connection: _Connection, request: httpx.Request, timeout: float | None
    ) -> httpx.Response:
        while True:  # 1xx answers come before the response
            head = await _read_head(connection, timeout)
            if head.status >= 200:
                break
            if head.status == 101:
                raise httpx.RemoteProtocolError("the server switched protocols")
        keep = head.version == b"1.1" and not head.close
        body: AsyncIterator[bytes]
        sized: int | None = None
        if request.method == "HEAD" or head.status in (204, 304):
            body = _nothing()
        else:
            body = _framed_body(connection, head, timeout)
            keep = keep and (head.chunked or head.length is not None)
            sized = None if head.chunked else head.length
        return httpx.Response(
            head.status,
            headers=head.headers,
            stream=_Body(self, connection, body, keep, sized, timeout),
            extensions={
                "http_version": b"HTTP/" + head.version,
                "reason_phrase": head.reason,
                "network_stream": _NetworkStream(connection.writer),
            },
        )


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

    def _finish(self, *, keep: bool) -> None:
        if not self._done:
            self._done = True
            self._transport._release(self._connection, keep)


def _request_head(request: httpx.Request) -> bytes:
    """The request line and headers; a header that could split the request is refused."""
    lines = [b"%s %s HTTP/1.1\r\n" % (request.method.encode("ascii"), request.url.raw_path)]
    for name, value in request.headers.raw:
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


def raw_body(response: httpx.Response) -> RawBody | None:
    """The body of ``response`` for :class:`RawBody` reads, or None when it cannot be: not a
    response of :class:`ListingTransport`, not framed by ``Content-Length``, or already read."""
    stream = response.stream
    if not isinstance(stream, _Body) or stream._sized is None or stream._started:
        return None
    stream._started = True
    return RawBody(stream)


class RawBody:
    """A body framed by ``Content-Length``, read straight into the caller's buffers.

    For big downloads: the connection's transport receives into the buffer that
    :meth:`readinto` is given (``asyncio.BufferedProtocol``: one copy, from the kernel),
    instead of 64 KiB ``bytes`` through the stream reader and the body's iterator (four
    copies and a few Python steps each). The connection is closed at the end of the body or
    on any error, never kept for another request. Errors are the transport's: a body cut
    short is :class:`httpx.RemoteProtocolError`, a read refused :class:`httpx.ReadError`,
    ``timeout`` seconds without a byte :class:`httpx.ReadTimeout`.
    """

    def __init__(self, body: _Body) -> None:
        self._body = body
        self._connection = body._connection
        self.length = body._sized or 0
        self.received = 0
        self._timeout = body._timeout
        self._into: _Into | None = None

    async def readinto(self, view: memoryview) -> int:
        """Fill ``view`` (at most the rest of the body); the bytes read, 0 at the body's end."""
        view = view[: self.length - self.received]
        if not view:
            self.close()
            return 0
        try:
            into = self._into or await self._take_over()
            count = await into.fill(view, self._timeout)
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

    async def _take_over(self) -> _Into:
        """Receive into our buffers from now on; what was read already comes first."""
        connection = self._connection
        transport = cast(asyncio.Transport, connection.writer.transport)
        transport.pause_reading()
        into = self._into = _Into(transport, bytes(connection.buffer))
        connection.buffer.clear()
        transport.set_protocol(into)
        connection.reader.feed_eof()  # what the reader holds, without waiting for more
        try:
            while part := await connection.reader.read(MAX_HEAD):
                into.extra += part
        except (OSError, ssl.SSLError) as exc:  # the reader had met an error already
            raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
        transport.pause_reading()  # the reader's read may have resumed it
        return into


class _Into(asyncio.BufferedProtocol):
    """The protocol a :class:`RawBody` reads through: the bytes go into the caller's view.

    Reading is paused whenever no view waits to be filled; bytes delivered meanwhile (a read
    already under way) are kept in ``extra`` and handed out first.
    """

    def __init__(self, transport: asyncio.Transport, extra: bytes) -> None:
        self.transport = transport
        self.extra = bytearray(extra)
        self.view: memoryview | None = None
        self.filled = 0
        self.waiter: asyncio.Future[None] | None = None
        self.ended = False
        self.error: BaseException | None = None
        self._spare = bytearray(_READ)

    async def fill(self, view: memoryview, timeout: float | None) -> int:
        """Fill ``view``; fewer bytes only when the connection ended first."""
        count = min(len(self.extra), len(view))
        view[:count] = self.extra[:count]
        del self.extra[:count]
        if count < len(view) and not self.ended:
            self.view, self.filled = view, count
            waiter = self.waiter = asyncio.get_running_loop().create_future()
            self.transport.resume_reading()
            try:
                while not waiter.done():
                    before = self.filled
                    await asyncio.wait([waiter], timeout=timeout)
                    if not waiter.done() and self.filled == before:
                        raise httpx.ReadTimeout("timed out while reading the response")
            finally:
                self.transport.pause_reading()
                self.view, self.waiter = None, None
            count = self.filled
        if count < len(view) and self.error is not None:
            error = self.error
            raise httpx.ReadError(str(error) or type(error).__name__) from error
        return count

    def get_buffer(self, sizehint: int) -> memoryview:
        if self.view is None or self.filled == len(self.view):
            return memoryview(self._spare)
        return self.view[self.filled :]

    def buffer_updated(self, nbytes: int) -> None:
        if self.view is None or self.filled == len(self.view):
            self.extra += self._spare[:nbytes]
            self.transport.pause_reading()
            return
        self.filled += nbytes
        if self.filled == len(self.view):
            self._wake()

    def eof_received(self) -> bool:
        self.ended = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self.error = self.error or exc
        self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)
