"""Downloading one file version: its body hashed (SHA-256) as it comes and kept (in memory or
in a temporary file of the blob store: :mod:`~monitor.archive.body`), its type read from its
first bytes, its provenance recorded. Local targets: :mod:`~monitor.archive.local_fetch`.

A fetch ends in a :class:`Fetched` whose ``status`` is

- ``complete``: the whole body is in ``body``, for the store, as long as the listing said;
- ``changed``: the body was not what the listing promised (another size, from the listing
  or from ``Content-Length``; a ``Last-Modified`` that says the file changed since; for a
  local file, another size or mtime, before or while it was read); nothing is kept. Where
  the target's listing rounds sizes (``4.9K``: its latest snapshot's crawl saw such sizes),
  a body framed by ``Content-Length`` agrees with it when the server could have printed its
  length so (:func:`differs`);
- ``failed``: it could not be fetched (a status other than 200, a redirect, a connection
  cut, refused or timed out after the target's retries, a body cut short); nothing is kept.

Failures are data: a fetch raises only :class:`~monitor.errors.BlobStoreError` (the store's
folder is full or not writable), which stops the whole archive run.

http targets: ``GET`` on the version's URL with the target's headers, auth, TLS settings,
CA bundle, client certificate and User-Agent, proxies from the environment, one kept-alive
connection per worker (the crawl's transport, straight; through the crawl's
:class:`~monitor.crawl.Clients` when a proxy or Digest needs a client), at most ``rate``
request starts a second (the crawl's :class:`~monitor.crawl.Pacer`), ``retries`` tries after
a connection error, a cut body, 429 or 5xx with the crawl's backoff and ``Retry-After``.
Redirects are not followed (a redirect could leave the target's root). ``Accept-Encoding:
identity`` asks for the bytes as stored; what comes is kept as it comes (``aiter_raw``; a body
past :data:`~monitor.archive.body.SPILL_BYTES` framed by ``Content-Length`` straight from the
socket: :meth:`~monitor.archive.body.Body.receive`).
A download may be silent ``[archive] timeout`` at most.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from monitor.archive.blobs import BlobStore
from monitor.archive.body import SPILL_BYTES, Body, TooLong
from monitor.config import BasicAuth, DigestAuth, HttpTarget
from monitor.crawl import (
    ClientOptions,
    Clients,
    CrawlLimits,
    CrawlStats,
    Pacer,
    Timing,
    connect_reason,
    retry_after,
    seconds_text,
    shown,
    size_text,
    status_reason,
)
from monitor.crawl.fetch import proxied
from monitor.crawl.pacing import backoff
from monitor.crawl.transport import (
    ListingTransport,
    Reply,
    header_block,
    raw_body,
    request_line,
)
from monitor.output import human_duration
from monitor.sources.listings.common import printed_as

#: What a Last-Modified may differ from the listing's mtime by (listings show minutes).
MTIME_TOLERANCE = 60
#: The most a Retry-After is waited for within one archive run; a server that asks for longer
#: stops the run (:attr:`HttpFetcher.refused`): the file is tried again once that time has
#: passed, the rest at the next poll.
MAX_RETRY_AFTER = 60.0
#: The longest a Retry-After puts a file's next try off.
MAX_PUT_OFF = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Wanted:
    """One version to fetch, with what the listing said of it."""

    version_id: int
    path: str
    url: str
    size: int | None
    mtime_ns: int | None
    #: Tries already made for this version (0: this is the first).
    attempts: int = 0
    #: The most bytes kept when the listing gave no size (``max_file_size``).
    max_size: int | None = None

    def cap(self, promised: int | None = None) -> tuple[int | None, str, str]:
        """The most bytes to read, and the status and reason when more come. ``promised``: a
        ``Content-Length`` found to agree with the listed size (:func:`differs`), which may be
        above it where the listing rounds sizes."""
        if self.size is not None:
            most = self.size if promised is None else max(self.size, promised)
            return most, "changed", f"longer than the {size_text(self.size)} listed"
        limit = self.max_size
        return limit, "skipped", f"larger than max_file_size ({size_text(limit or 0)})"


@dataclass(slots=True)
class Fetched:
    """What one try to fetch a version came to (see the module docstring)."""

    wanted: Wanted
    status: str
    fetched_at: datetime
    size: int | None = None
    sha256: str | None = None
    mime: str | None = None
    description: str | None = None
    http_status: int | None = None
    headers: dict[str, str | list[str]] | None = None
    ip: str | None = None
    tls_fingerprint: str | None = None
    error: str | None = None
    #: The whole body of a complete fetch (in memory or a temporary file), for the store.
    body: Body | None = field(default=None, repr=False)
    #: No try before this (the server's ``Retry-After``), else None.
    not_before: datetime | None = None

    def settle(self) -> None:
        """Hash a complete body kept in memory and read its type, if not done yet. Called in
        a worker thread for a batch of them (hashing lets the event loop run meanwhile)."""
        if self.body is not None and self.sha256 is None:
            self.sha256 = self.body.sha256
            self.mime, self.description = self.body.type()

    @property
    def headers_json(self) -> str | None:
        return None if self.headers is None else json.dumps(self.headers, ensure_ascii=True)


@dataclass(slots=True)
class _Answer:
    """A response, from the client or straight from the transport: what a download reads."""

    status: int
    headers: list[tuple[bytes, bytes]]
    network_stream: Any
    body: httpx.Response | Reply


class _Retryable(Exception):
    """A try to make again. ``wait``: what a ``Retry-After`` asked for; ``overload``: the
    server is overloaded (429, 503, or any ``Retry-After``): every download of the target
    waits, not only this one."""

    def __init__(self, reason: str, wait: float | None = None, *, overload: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait
        self.overload = overload or wait is not None


#: What a download asks for: any type, the bytes as stored (never compressed on the way).
_DOWNLOAD = {"Accept": "*/*", "Accept-Encoding": "identity"}


class Direct:
    """Downloads sent straight to the crawl's transport, no client in between: the request
    head is made of the URL's path and headers fixed once (``Host`` first, as httpx sends
    them; the target's own replaces it), the response read without httpx's models
    (:meth:`ListingTransport.get`).

    httpx's client and models cost about 0.3 ms of CPU per request (URL parsing, headers,
    auth flow, cookies, hooks), as much as the rest of fetching a small file.
    """

    def __init__(self, root: str, headers: dict[str, str]) -> None:
        self.root = root
        self.origin = httpx.URL(root)
        self.base = self.origin.raw_path
        pairs = list(headers.items())
        if not any(name.lower() == "host" for name in headers):  # as httpx: one Host
            pairs.insert(0, ("Host", self.origin.netloc.decode("ascii")))
        self.headers = header_block([(n.encode(), v.encode()) for n, v in pairs])

    @classmethod
    def of(cls, target: HttpTarget, options: ClientOptions) -> Direct | None:
        """The direct way for ``target``, or None when a client is needed: a proxy from the
        environment, or Digest authentication (a challenge to answer)."""
        if proxied() or isinstance(target.auth, DigestAuth):
            return None
        headers = {**options.headers, **_DOWNLOAD}
        if isinstance(target.auth, BasicAuth):
            pair = f"{target.auth.username}:{target.auth.password.get_secret_value()}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        return cls(target.url, headers)

    def head(self, url: str) -> bytes:
        """The request head of a GET of ``url`` (one of the target's, as ``url_for`` makes
        them: the root and percent-encoded ASCII after it)."""
        if url.startswith(self.root) and url.isascii():
            path = self.base + url[len(self.root) :].encode("ascii")
        else:
            path = httpx.URL(url).raw_path
        return request_line(b"GET", path) + self.headers


def body_for(store: BlobStore, wanted: Wanted, promised: int | None = None) -> Body:
    """A :class:`Body` for ``wanted``, capped as :meth:`Wanted.cap` says."""
    cap, status, reason = wanted.cap(promised)
    return Body(store, cap, (status, reason))


def finished(fetched: Fetched, body: Body) -> Fetched:
    """``fetched`` complete with ``body``, or (when it has an error) with the body dropped.

    A body in a temporary file was hashed as it came: its hash and type are set now; one kept
    in memory gets them from :meth:`Fetched.settle`.
    """
    fetched.size = body.size
    if fetched.error is not None:
        body.discard()
        return fetched
    fetched.body = body
    fetched.status = "complete"
    if body.path is not None:
        fetched.settle()
    return fetched


def differs(expected: int | None, got: int, *, rounded: bool = False) -> str | None:
    """Why ``got`` bytes are not the ``expected`` the listing showed, or None. ``rounded``:
    the target's listing rounds sizes (lighttpd, Apache, nginx with exact sizes off) and
    ``got`` is framed by the server (a ``Content-Length``, then a body of that length): they
    agree when the server could have printed ``got`` as ``expected`` (``4.9K`` for 5,000
    bytes). A body without a length must match exactly (a cut one could round to the listed
    size too), and so must any body where the listing prints bytes."""
    if expected is None or got == expected or (rounded and printed_as(got, expected)):
        return None
    return f"{size_text(got)} received, the listing showed {size_text(expected)}"


def response_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str | list[str]]:
    """The headers as received: lower-case names; a repeated header as a list; read as
    httpx reads them (ASCII, else UTF-8, else Latin-1)."""
    kept: dict[str, str | list[str]] = {}
    for encoding in ("ascii", "utf-8"):
        try:
            pairs = [(n.decode(encoding).lower(), v.decode(encoding)) for n, v in raw]
            break
        except UnicodeDecodeError:
            continue
    else:
        pairs = [(n.decode("iso-8859-1").lower(), v.decode("iso-8859-1")) for n, v in raw]
    for name, value in pairs:
        before = kept.get(name)
        if before is None:
            kept[name] = value
        elif isinstance(before, list):
            before.append(value)
        else:
            kept[name] = [before, value]
    return kept


def _first(headers: dict[str, str | list[str]], name: str) -> str:
    """The first value of header ``name`` ("" when absent)."""
    value = headers.get(name, "")
    return value[0] if isinstance(value, list) else value


def _peer(stream: Any, fetched: Fetched) -> None:
    if stream is None:
        return
    address = stream.get_extra_info("server_addr")
    fetched.ip = str(address[0]) if address else None
    tls = stream.get_extra_info("ssl_object")
    cert = tls.getpeercert(binary_form=True) if tls is not None else None
    if cert:
        fetched.tls_fingerprint = hashlib.sha256(cert).hexdigest()


def modified_since_listing(last_modified: str | None, mtime_ns: int | None) -> str | None:
    """Why a ``Last-Modified`` says the file changed since it was listed, or None.

    Listings show times to the minute, in a time zone set per target; a difference within a
    minute, or within a minute of a whole number of quarter hours (a time zone's offset), is
    not a change.
    """
    if not last_modified or mtime_ns is None:
        return None
    try:
        when = email.utils.parsedate_to_datetime(last_modified)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = abs(when.timestamp() - mtime_ns / 1e9)
    offset = min(delta % 900, 900 - delta % 900)
    if delta <= MTIME_TOLERANCE or (delta <= 26 * 3600 and offset <= MTIME_TOLERANCE):
        return None
    return f"Last-Modified {shown(last_modified)} is not the listing's time"


class HttpFetcher:
    """Fetches versions of an http target: ``concurrency`` workers, each with its client."""

    def __init__(
        self,
        target: HttpTarget,
        store: BlobStore,
        *,
        timeout: float,
        timing: Timing | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        rounded_sizes: bool = False,
    ) -> None:
        """``rounded_sizes``: the target's listing prints sizes rounded (``4.9K``): a body
        framed by the server agrees with one it could have printed so (:func:`differs`)."""
        from monitor.sources.http import client_options  # the crawl imports monitor.sources

        self.target = target
        self.store = store
        self.timing = timing or Timing()
        self.now = now
        self.limits = CrawlLimits(
            concurrency=target.concurrency, rate=target.rate, retries=target.retries,
            timeout=timeout,
        )  # fmt: skip
        self.stats = CrawlStats()
        options = client_options(target)
        self.pacer = Pacer(target.rate, self.timing)
        self.clients = Clients(self.limits, options, self.stats)
        self.direct = Direct.of(target, options)
        self.transports: dict[int, ListingTransport] = {}
        self.rounded_sizes = rounded_sizes
        #: Why the server wants no more downloads for now (a ``Retry-After`` beyond
        #: :data:`MAX_RETRY_AFTER`): the run starts no other file. None: go on.
        self.refused: str | None = None
        self.verify = options.verify
        self.timeouts = {"connect": target.timeout.total_seconds(), "read": timeout,
                         "write": timeout, "pool": None}  # fmt: skip

    @property
    def concurrency(self) -> int:
        return self.target.concurrency

    async def aclose(self) -> None:
        await self.clients.aclose()
        transports, self.transports = list(self.transports.values()), {}
        for transport in transports:
            await transport.aclose()

    async def fetch(self, wanted: Wanted, worker: int) -> Fetched:
        """One try (with the target's retries) to fetch ``wanted``. An overloaded server
        pauses every download of the target; one that asks to wait longer than
        :data:`MAX_RETRY_AFTER` ends the try at once and sets :attr:`refused`."""
        reason = ""
        for attempt in range(self.limits.retries + 1):
            await self.pacer.wait()
            fetched = Fetched(wanted, "failed", self.now())
            try:
                return await self._get(worker, fetched)
            except _Retryable as exc:
                reason = exc.reason
                if exc.wait is not None and exc.wait > MAX_RETRY_AFTER:
                    return self._put_off(fetched, reason, exc.wait)
                if attempt < self.limits.retries:
                    delay = backoff(attempt, self.timing.random)
                    if exc.wait is not None:
                        delay = max(delay, exc.wait)
                    if exc.overload:
                        self.pacer.hold(self.timing.clock() + delay)
                    await self.timing.sleep(delay)
        fetched.error = f"{reason} (after {self.limits.retries + 1} tries)"
        return fetched

    def _put_off(self, fetched: Fetched, reason: str, wait: float) -> Fetched:
        """A failed try the server asked to make again only after ``wait`` seconds."""
        asked = human_duration(timedelta(seconds=round(wait)))
        self.refused = f"the server asks to wait {asked} (Retry-After)"
        fetched.error = f"{reason}: {self.refused}"
        fetched.not_before = fetched.fetched_at + min(timedelta(seconds=wait), MAX_PUT_OFF)
        return fetched

    async def _get(self, worker: int, fetched: Fetched) -> Fetched:
        url = fetched.wanted.url
        try:
            if self.direct is None:
                client = self.clients.client(worker)
                async with client.stream("GET", url, headers=_DOWNLOAD) as response:
                    stream = response.extensions.get("network_stream")
                    raw_headers = response.headers.raw
                    answer = _Answer(response.status_code, raw_headers, stream, response)
                    return await self._read(answer, fetched)
            reply = await self._send_direct(worker, self.direct, url)
            try:
                answer = _Answer(reply.status, reply.headers, reply.network_stream, reply)
                return await self._read(answer, fetched)
            finally:
                await reply.body.aclose()
        except (httpx.ConnectError, httpx.ProxyError) as exc:
            reason, again = connect_reason(exc)
            if not again:
                fetched.error = reason
                return fetched
            raise _Retryable(reason) from exc
        except httpx.TimeoutException as exc:
            raise _Retryable(f"silent for {seconds_text(self.limits.timeout)}") from exc
        except httpx.TransportError as exc:
            raise _Retryable(connect_reason(exc)[0]) from exc
        except httpx.InvalidURL:
            fetched.error = f"invalid URL {shown(url)}"
            return fetched

    async def _send_direct(self, worker: int, direct: Direct, url: str) -> Reply:
        """The request straight to the worker's transport (no client in between)."""
        transport = self.transports.get(worker)
        if transport is None:
            transport = self.transports[worker] = ListingTransport(self.verify)
        self.stats.requests += 1
        return await transport.get(direct.origin, direct.head(url), self.timeouts)

    async def _read(self, answer: _Answer, fetched: Fetched) -> Fetched:
        wanted = fetched.wanted
        fetched.http_status = status = answer.status
        fetched.headers = headers = response_headers(answer.headers)
        _peer(answer.network_stream, fetched)
        if status == 429 or 500 <= status <= 599:
            first = {name: _first(headers, name) for name in ("retry-after", "date")}
            wait = retry_after(first, self.timing.wall)
            raise _Retryable(status_reason(status), wait, overload=status in {429, 503})
        if status != 200:
            location = _first(headers, "location")
            where = f" to {shown(location)} (not followed)" if location else ""
            fetched.error = f"{status_reason(status)}{where}"
            return fetched
        length = _first(headers, "content-length")
        promised = int(length) if length.isascii() and length.isdigit() else None
        rounded = self.rounded_sizes
        why = differs(wanted.size, promised, rounded=rounded) if promised is not None else None
        modified = _first(headers, "last-modified")
        why = why or modified_since_listing(modified, wanted.mtime_ns)
        if why:
            fetched.status, fetched.error = "changed", why.replace("received", "announced", 1)
            return fetched
        return await self._stream(answer.body, fetched, promised)

    async def _stream(
        self, response: httpx.Response | Reply, fetched: Fetched, promised: int | None
    ) -> Fetched:
        """Read the body: one framed by Content-Length (``promised``) straight from the
        socket, a big one into buffers, a small one whole (unless more than its cap: then as
        it comes, stopped at the cap)."""
        wanted = fetched.wanted
        body = body_for(self.store, wanted, promised)
        big = promised is not None and promised > SPILL_BYTES
        cap = body.cap
        whole = not big and promised is not None and (cap is None or promised <= cap)
        try:
            raw = raw_body(response) if big else None
            if raw is not None:
                await body.receive(raw)
            elif whole and isinstance(response, Reply) and response.body.whole():
                body.write(await response.body.read_whole())
            else:
                parts = response.body if isinstance(response, Reply) else response.aiter_raw()
                async for chunk in parts:
                    body.write(chunk)
            body.finish()
        except TooLong as exc:
            fetched.status, fetched.error = exc.status, exc.reason
        except httpx.TimeoutException as exc:
            body.discard()
            raise _Retryable(f"silent for {seconds_text(self.limits.timeout)}") from exc
        except httpx.TransportError as exc:
            body.discard()
            raise _Retryable(f"body cut short: {connect_reason(exc)[0]}") from exc
        except BaseException:
            body.discard()
            raise
        framed = self.rounded_sizes and promised is not None and body.size == promised
        if fetched.error is None and (why := differs(wanted.size, body.size, rounded=framed)):
            fetched.status, fetched.error = "changed", why
        return finished(fetched, body)
