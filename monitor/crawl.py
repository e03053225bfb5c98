"""The crawl: a polite, bounded-concurrency walk of the listing pages under one HTTP root.

:func:`crawl` lists a root URL and every folder under it (with ``max_depth = 0``, only the
root). It opens one :class:`httpx.AsyncClient` (``concurrency`` connections, kept alive) shared by
``concurrency`` workers that take folders from one queue. A page is turned into items by the
``parse`` function they are given (an http source hands in the listings package); the crawl
knows nothing of page formats.

Scope lock (:class:`Scope`): every URL requested, link or redirect hop, has the root's scheme,
host and port, a path under the root's path, no query string, fragment, credentials or ``.`` /
``..`` segment. Children are built from the names the parser found (one percent-encoded path
segment each), never from hrefs. Redirects are followed by hand, at most
:data:`MAX_REDIRECTS` hops, each checked; a hop out of scope fails the folder. Each URL is
requested once per crawl: a folder that redirects to one already listed fails (it is an alias).

Politeness: requests start no closer together than ``1 / rate`` seconds (:class:`Pacer`, a
token bucket of one token). A connect error, a timeout, a dropped connection, 429 or 5xx is
retried ``retries`` times after ``random() * min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)``
seconds ("full jitter"); a ``Retry-After`` (seconds or an HTTP date, read against the
response's ``Date``) makes the whole target wait at least that long. An untrusted certificate
is not retried. Time comes from :class:`Timing`, so tests drive backoff without waiting.

Caps: a request may take ``timeout`` seconds from connect to its last byte, the crawl
``poll_timeout``; a page may hold ``max_page_bytes`` after decompression (only gzip is
accepted, decoded here with a bounded inflater); folders deeper than ``max_depth`` are not
requested; past ``max_entries`` entries the crawl stops.

Failures are data, as DESIGN.md asks. A folder that cannot be listed becomes a
:class:`FolderFailure` and its previous entries are carried forward: after its retries, on
401/403/404 or any other status, a page that is not a listing (``NotAListing``: an error or
login page served with 200 never reads as an empty folder), an oversized page, a redirect out
of scope, ``max_depth`` (``"deeper than max_depth (N)"``), the poll's deadline (folders not
listed in time) and ``max_entries`` (``""``, the root, like the local source). When the root
itself fails the crawl raises :class:`~monitor.errors.RootUnavailable` with the reason.

Conditional requests: a page that came with an ``ETag`` or ``Last-Modified`` is kept in the
``cache`` mapping handed in (folder URL → :class:`CachedPage`); the next crawl with that
mapping sends ``If-None-Match`` / ``If-Modified-Since`` and a 304 reuses the kept items. After a
crawl the mapping holds exactly the pages of that crawl that had validators.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import re
import socket
import ssl
import time
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from operator import attrgetter
from urllib.parse import quote, unquote, urljoin, urlsplit

import httpx

from monitor.errors import FolderFailed, RootUnavailable
from monitor.sources.base import Entry, FolderFailure, ProgressCallback
from monitor.sources.listings import NotAListing, Page
from monitor.sources.local import GlobSet, Rules

MAX_REDIRECTS = 5
BACKOFF_BASE = 0.5
BACKOFF_CAP = 60.0
#: Error bodies up to this size are read (and dropped) so their connection stays open.
DISCARD_LIMIT = 64 * 1024
#: Report progress after a folder once this many more entries were gathered.
PROGRESS_EVERY = 1000
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PORTS = {"http": 80, "https": 443}
_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")
#: No include / exclude rules: every entry is listed.
NO_RULES = Rules(GlobSet(None, None), GlobSet(None, None), active=False)

#: Turns a page into items: (body, URL of the page, response headers) → Page, or NotAListing.
ParsePage = Callable[[bytes, str, httpx.Headers], Page]


@dataclass(frozen=True, slots=True)
class Timing:
    """Where the crawl gets time: monotonic clock, sleep, jitter and the wall clock."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    random: Callable[[], float] = random.random
    wall: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class CrawlLimits:
    """How hard and how far one crawl may go (seconds, bytes, counts)."""

    concurrency: int = 8
    rate: float = 10.0
    retries: int = 3
    timeout: float = 30.0
    poll_timeout: float = 1800.0
    max_depth: int = 32
    max_entries: int = 1_000_000
    max_page_bytes: int = 16 * 2**20


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """What every request carries: headers, authentication, TLS settings."""

    headers: dict[str, str] = field(default_factory=dict)
    auth: httpx.Auth | None = None
    verify: ssl.SSLContext | bool = True


@dataclass(frozen=True, slots=True)
class CachedPage:
    """A listed page and the validators it came with."""

    etag: str | None
    last_modified: str | None
    page: Page


PageCache = MutableMapping[str, CachedPage]


@dataclass(slots=True)
class CrawlStats:
    """Facts about a crawl, kept with its snapshot."""

    requests: int = 0
    bytes: int = 0
    ip: str | None = None
    server: str | None = None
    tls_sha256: str | None = None
    formats: set[str] = field(default_factory=set)
    peer_noted: bool = False

    def info(self) -> dict[str, str | int]:
        info: dict[str, str | int] = {"requests": self.requests, "bytes": self.bytes}
        info["format"] = ",".join(sorted(self.formats))
        for key in ("ip", "server", "tls_sha256"):
            value = getattr(self, key)
            if value is not None:
                info[key] = value
        return info


@dataclass(slots=True)
class CrawlResult:
    """Entries sorted by path, the folders that failed, what was left out, and the stats."""

    entries: list[Entry]
    failed: list[FolderFailure]
    skipped: int
    folders: int
    stats: CrawlStats


def _normal_path(path: str) -> str:
    return _ESCAPE.sub(lambda m: m.group(0).upper(), path)


@dataclass(frozen=True, slots=True)
class Scope:
    """Scheme, host, port and path prefix that every requested URL must share with the root."""

    scheme: str
    host: str
    port: int
    prefix: str

    @classmethod
    def of(cls, root: str) -> Scope:
        parts = urlsplit(root)
        port = parts.port or _PORTS.get(parts.scheme, 0)
        prefix = parts.path if parts.path.endswith("/") else parts.path + "/"
        return cls(parts.scheme, parts.hostname or "", port, _normal_path(prefix))

    def contains(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.query or parts.fragment or "?" in url or "#" in url or "@" in parts.netloc:
            return False
        try:
            port = parts.port or _PORTS.get(parts.scheme, 0)
        except ValueError:
            return False
        if (parts.scheme, parts.hostname or "", port) != (self.scheme, self.host, self.port):
            return False
        if any(unquote(s) in {".", ".."} for s in parts.path.split("/")):
            return False
        return _normal_path(parts.path).startswith(self.prefix)


class Pacer:
    """Spaces request starts at least ``1 / rate`` seconds apart; :meth:`hold` pauses them all."""

    def __init__(self, rate: float, timing: Timing) -> None:
        self._interval = 1.0 / rate
        self._next = -math.inf
        self._timing = timing

    async def wait(self) -> None:
        now = self._timing.clock()
        start = max(now, self._next)
        self._next = start + self._interval
        if start > now:
            await self._timing.sleep(start - now)

    def hold(self, until: float) -> None:
        self._next = max(self._next, until)


def retry_after(headers: httpx.Headers, wall: Callable[[], datetime]) -> float | None:
    """Seconds a ``Retry-After`` asks for (a number or an HTTP date); None when absent or bad."""
    value = headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(min(int(value), 10**7))
    when, now = http_date(value), http_date(headers.get("date", ""))
    if when is None:
        return None
    return max(0.0, (when - (now or wall())).total_seconds())


def http_date(value: str) -> datetime | None:
    """An HTTP date (``Date``, ``Retry-After``) as an aware datetime; None when it is not one."""
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def seconds_text(seconds: float) -> str:
    """``30 s``, ``0.5 s``, ``30 min``: a duration in a failure reason."""
    if seconds >= 120 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def size_text(size: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} bytes"


def shown(text: str, limit: int = 200) -> str:
    """Untrusted text (a header, a Location) made safe for a reason or a log line."""
    text = _UNPRINTABLE.sub("?", text)
    return text if len(text) <= limit else text[:limit] + "…"


def status_reason(status: int) -> str:
    return f"HTTP {status} {httpx.codes.get_reason_phrase(status)}".rstrip()


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def connect_reason(exc: Exception) -> tuple[str, bool]:
    """(a short reason, whether to retry) for an error before the response started."""
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted: {cause.verify_message}", False
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed: {cause.reason or cause}", False
        if isinstance(cause, socket.gaierror):
            return "host name not found", True
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused", True
        if isinstance(cause, ConnectionResetError):
            return "connection reset", True
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror[:1].lower() + cause.strerror[1:], True
    text = str(exc) or type(exc).__name__
    return shown(text[:1].lower() + text[1:]), True


class _Retryable(Exception):
    """One attempt failed in a way worth another try."""

    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


class _TooLarge(Exception):
    """The page passed max_page_bytes."""


class BoundedBody:
    """Collects a body, inflating gzip as it comes, and stops past ``cap`` decoded bytes."""

    def __init__(self, encoding: str, cap: int) -> None:
        if encoding not in {"", "identity", "gzip", "x-gzip"}:
            raise ValueError(f"unsupported Content-Encoding {shown(encoding, 40)!r}")
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if "gzip" in encoding else None
        self._cap = cap
        self._parts: list[bytes] = []
        self._size = 0

    def feed(self, chunk: bytes) -> None:
        if self._inflater is None:
            self._add(chunk)
            return
        try:
            data = chunk
            while data:
                self._add(self._inflater.decompress(data, self._cap - self._size + 1))
                data = self._inflater.unconsumed_tail
        except zlib.error as exc:
            raise ValueError("a corrupt gzip body") from exc

    def _add(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._cap:
            raise _TooLarge
        self._parts.append(data)

    def finish(self) -> bytes:
        if self._inflater is not None:
            self._add(self._inflater.flush())
        return b"".join(self._parts)


@dataclass(slots=True)
class _Folder:
    path: str
    url: str
    depth: int


@dataclass(slots=True)
class _Response:
    status: int
    headers: httpx.Headers
    body: bytes


class _Crawl:
    """One crawl; see the module docstring."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        stats: CrawlStats,
        root: str,
        parse: ParsePage,
        *,
        limits: CrawlLimits,
        rules: Rules,
        timing: Timing,
        cache: PageCache | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.client, self.stats, self.root, self.parse = client, stats, root, parse
        self.limits, self.rules, self.timing, self.progress = limits, rules, timing, progress
        self.scope = Scope.of(root)
        self.pacer = Pacer(limits.rate, timing)
        self.old_cache: dict[str, CachedPage] = dict(cache or {})
        self.new_cache: dict[str, CachedPage] = {}
        self.entries: list[Entry] = []
        self.failed: list[FolderFailure] = []
        self.skipped = self.folders = 0
        self.seen: set[str] = {root}
        self.queue: asyncio.Queue[_Folder] = asyncio.Queue()
        self.capped = False
        self.deadline = timing.clock() + limits.poll_timeout
        self._next_report = PROGRESS_EVERY

    async def run(self) -> CrawlResult:
        root = _Folder("", self.root, 0)
        try:
            page, url = await self._list(root)
        except FolderFailed as exc:
            raise RootUnavailable(f"cannot list {self.root}: {exc.reason}") from exc
        self._add_page(root, page, url)
        await self._drain()
        if self.progress is not None:
            self.progress(len(self.entries), self.folders)
        self.entries.sort(key=attrgetter("path"))
        self.failed.sort(key=attrgetter("path"))
        return CrawlResult(self.entries, self.failed, self.skipped, self.folders, self.stats)

    async def _drain(self) -> None:
        """Run the workers until the queue is done; a worker's unexpected error is raised."""
        joined = asyncio.create_task(self.queue.join())
        workers = [asyncio.create_task(self._work()) for _ in range(self.limits.concurrency)]
        try:
            done, _ = await asyncio.wait([joined, *workers], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in [joined, *workers]:
                task.cancel()
            await asyncio.gather(joined, *workers, return_exceptions=True)
        for task in done:
            task.result()

    async def _work(self) -> None:
        while True:
            folder = await self.queue.get()
            try:
                if not self.capped:
                    await self._visit(folder)
            finally:
                self.queue.task_done()

    async def _visit(self, folder: _Folder) -> None:
        try:
            page, url = await self._list(folder)
        except FolderFailed as exc:
            self.failed.append(FolderFailure(folder.path, exc.reason))
            return
        if not self.capped:
            self._add_page(folder, page, url)

    def _add_page(self, folder: _Folder, page: Page, url: str) -> None:
        """Add a listed folder's items; queue its subfolders."""
        self.folders += 1
        self.stats.formats.add(page.format)
        prefix = folder.path + "/" if folder.path else ""
        names: set[str] = set()
        for item in page.items:
            if item.name in names:
                continue
            names.add(item.name)
            rel = prefix + item.name
            if not item.is_dir:
                if self.rules.active and self.rules.skips_file(rel):
                    self.skipped += 1
                else:
                    self.entries.append(Entry(rel, "file", item.size, item.mtime_ns, item.etag))
                continue
            if self.rules.active and self.rules.skips_dir(rel):
                self.skipped += 1
                continue
            self.entries.append(Entry(rel, "dir"))
            child = url + quote(item.name.encode("utf-8", "surrogateescape"), safe="") + "/"
            self._queue(_Folder(rel, child, folder.depth + 1))
        if len(self.entries) > self.limits.max_entries:
            self._cut_at_cap()
        elif self.progress is not None and len(self.entries) >= self._next_report:
            self.progress(len(self.entries), self.folders)
            self._next_report = len(self.entries) + PROGRESS_EVERY

    def _queue(self, folder: _Folder) -> None:
        if not self.scope.contains(folder.url) or folder.url in self.seen:
            self.skipped += 1
        elif folder.depth > self.limits.max_depth:
            reason = f"deeper than max_depth ({self.limits.max_depth}); raise max_depth"
            self.failed.append(FolderFailure(folder.path, reason))
        else:
            self.seen.add(folder.url)
            self.queue.put_nowait(folder)

    def _cut_at_cap(self) -> None:
        cap = self.limits.max_entries
        self.skipped += len(self.entries) - cap
        del self.entries[cap:]
        self.failed.append(FolderFailure("", f"more than {cap} entries; raise max_entries"))
        self.capped = True

    async def _list(self, folder: _Folder) -> tuple[Page, str]:
        """The page of one folder, following redirects within scope; FolderFailed if none."""
        url = folder.url
        for _ in range(MAX_REDIRECTS + 1):
            response = await self._get(url, folder.path)
            if response.status not in _REDIRECTS:
                return self._page(response, url, folder.path), url
            url = self._redirect(response, url, folder)
        raise FolderFailed(folder.path, f"more than {MAX_REDIRECTS} redirects")

    def _redirect(self, response: _Response, url: str, folder: _Folder) -> str:
        location: str = response.headers.get("location", "")
        if not location:
            raise FolderFailed(folder.path, f"{status_reason(response.status)} without a Location")
        target = urljoin(url, location.strip())
        if not self.scope.contains(target):
            raise FolderFailed(folder.path, f"redirected out of scope to {shown(target)}")
        if target in self.seen and target != folder.url:
            raise FolderFailed(folder.path, f"redirects to {shown(target)}, listed already")
        self.seen.add(target)
        return target

    def _page(self, response: _Response, url: str, path: str) -> Page:
        if response.status == 304 and url in self.old_cache:
            self.new_cache[url] = self.old_cache[url]
            return self.old_cache[url].page
        if response.status != 200:
            raise FolderFailed(path, status_reason(response.status))
        try:
            page = self.parse(response.body, url, response.headers)
        except NotAListing as exc:
            raise FolderFailed(path, f"not a directory listing: {_detail(exc, url)}") from exc
        etag, modified = response.headers.get("etag"), response.headers.get("last-modified")
        if etag or modified:
            self.new_cache[url] = CachedPage(etag, modified, page)
        return page

    async def _get(self, url: str, path: str) -> _Response:
        """One request with its retries; the response (not 429 or 5xx) or FolderFailed."""
        reason = ""
        for attempt in range(self.limits.retries + 1):
            await self._pace(path)
            try:
                return await self._request(url, path)
            except _Retryable as exc:
                reason = exc.reason
                if attempt < self.limits.retries:
                    await self._back_off(attempt, exc, path)
        raise FolderFailed(path, reason)

    async def _pace(self, path: str) -> None:
        await self.pacer.wait()
        if self.timing.clock() >= self.deadline:
            raise FolderFailed(path, self._late())

    def _late(self) -> str:
        return f"poll_timeout ({seconds_text(self.limits.poll_timeout)}) reached"

    async def _back_off(self, attempt: int, failure: _Retryable, path: str) -> None:
        delay = self.timing.random() * min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)
        now = self.timing.clock()
        if failure.wait is not None:
            delay = max(delay, failure.wait)
            self.pacer.hold(now + failure.wait)
        if now + delay >= self.deadline:
            raise FolderFailed(path, f"{failure.reason}; no time left in the poll to retry")
        await self.timing.sleep(delay)

    async def _request(self, url: str, path: str) -> _Response:
        """One attempt, bounded by ``timeout`` and the poll's deadline."""
        limit = min(self.limits.timeout, self.deadline - self.timing.clock())
        try:
            async with asyncio.timeout(limit):
                return await self._send(url, path)
        except (TimeoutError, httpx.TimeoutException) as exc:
            if limit < self.limits.timeout:
                raise FolderFailed(path, self._late()) from exc
            raise _Retryable(f"timed out after {seconds_text(limit)}") from exc
        except (httpx.ConnectError, httpx.ProxyError, ssl.SSLError) as exc:
            reason, again = connect_reason(exc)
            if not again:
                raise FolderFailed(path, reason) from exc
            raise _Retryable(reason) from exc
        except httpx.TransportError as exc:
            raise _Retryable(connect_reason(exc)[0]) from exc
        except httpx.InvalidURL as exc:
            raise FolderFailed(path, f"invalid URL {shown(url)}") from exc

    async def _send(self, url: str, path: str) -> _Response:
        headers = {}
        cached = self.old_cache.get(url)
        if cached is not None and cached.etag:
            headers["If-None-Match"] = cached.etag
        if cached is not None and cached.last_modified:
            headers["If-Modified-Since"] = cached.last_modified
        async with self.client.stream("GET", url, headers=headers) as response:
            self._note_peer(response)
            status = response.status_code
            body = await (self._read(response, path) if status == 200 else _discard(response))
            self.stats.bytes += response.num_bytes_downloaded
            if status == 429 or 500 <= status <= 599:
                wait = retry_after(response.headers, self.timing.wall)
                raise _Retryable(status_reason(status), wait)
            return _Response(status, response.headers, body)

    async def _read(self, response: httpx.Response, path: str) -> bytes:
        cap = self.limits.max_page_bytes
        too_large = f"listing larger than {size_text(cap)} (max_page_bytes)"
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > cap:
            raise FolderFailed(path, too_large)
        try:
            body = BoundedBody(response.headers.get("content-encoding", "").strip().lower(), cap)
            async for chunk in response.aiter_raw():
                body.feed(chunk)
            return body.finish()
        except _TooLarge as exc:
            raise FolderFailed(path, too_large) from exc
        except ValueError as exc:
            raise FolderFailed(path, str(exc)) from exc

    def _note_peer(self, response: httpx.Response) -> None:
        """The first response's address, Server header and certificate fingerprint."""
        if self.stats.peer_noted:
            return
        self.stats.peer_noted = True
        server = response.headers.get("server")
        self.stats.server = shown(server) if server else None
        stream = response.extensions.get("network_stream")
        if stream is None:
            return
        address = stream.get_extra_info("server_addr")
        self.stats.ip = str(address[0]) if address else None
        tls = stream.get_extra_info("ssl_object")
        cert = tls.getpeercert(binary_form=True) if tls is not None else None
        if cert:
            self.stats.tls_sha256 = hashlib.sha256(cert).hexdigest()


async def _discard(response: httpx.Response) -> bytes:
    """Read a short error body so the connection can be kept alive; drop a long one."""
    size = 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > DISCARD_LIMIT:
            break
    return b""


def _detail(exc: NotAListing, url: str) -> str:
    """``https://h/x/: a login form, not a directory listing`` → ``login form``."""
    text = exc.message.removeprefix(f"{url}: ").removesuffix(", not a directory listing")
    for article in ("a ", "an "):
        text = text.removeprefix(article)
    return shown(text)


def open_client(
    limits: CrawlLimits, options: ClientOptions, stats: CrawlStats
) -> httpx.AsyncClient:
    """One client for a crawl: ``concurrency`` kept-alive connections, proxies from the env."""

    async def count(request: httpx.Request) -> None:
        stats.requests += 1

    return httpx.AsyncClient(
        headers={**options.headers, "Accept-Encoding": "gzip"},  # the only coding inflated here
        auth=options.auth,
        verify=options.verify,
        timeout=httpx.Timeout(limits.timeout),
        limits=httpx.Limits(
            max_connections=limits.concurrency, max_keepalive_connections=limits.concurrency
        ),
        follow_redirects=False,
        trust_env=True,
        event_hooks={"request": [count]},
    )


async def crawl(
    root: str,
    parse: ParsePage,
    *,
    rules: Rules = NO_RULES,
    limits: CrawlLimits = CrawlLimits(),
    options: ClientOptions = ClientOptions(),
    timing: Timing = Timing(),
    cache: PageCache | None = None,
    progress: ProgressCallback | None = None,
) -> CrawlResult:
    """List ``root`` (a URL ending in ``/``) and every folder under it; see the module doc."""
    stats = CrawlStats()
    async with open_client(limits, options, stats) as client:
        walk = _Crawl(
            client,
            stats,
            root,
            parse,
            limits=limits,
            rules=rules,
            timing=timing,
            cache=cache,
            progress=progress,
        )
        result = await walk.run()
    if cache is not None:
        cache.clear()
        cache.update(walk.new_cache)
    return result
