"""Requests: one client per worker, each request paced, retried with backoff and bounded.

A connect error, a timeout, a dropped connection or a cut body, 429 or 5xx is retried (see
:mod:`monitor.crawl`); anything else that stops a request is a :class:`FolderFailed`.

Each worker has its own :class:`httpx.AsyncClient` of one kept-alive connection
(:class:`Clients`): httpcore's pool does work in proportion to its connections on every
request, and with 16 connections in one pool that was half the cost of a request. The clients
share their settings, their auth (a digest challenge learnt by one serves all) and one cookie
jar, so they behave as one client of ``concurrency`` connections. Their transport is
:class:`~monitor.crawl.transport.ListingTransport` unless the environment names a proxy (then
httpx's own, which reads the proxy variables).
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookiejar import CookieJar
from types import TracebackType
from urllib.request import getproxies

import httpx

from monitor.crawl.body import BoundedBody, TooLarge, Truncated, check_html_end, discard
from monitor.crawl.options import ClientOptions, CrawlLimits, Timing
from monitor.crawl.pacing import Pacer, backoff, retry_after
from monitor.crawl.reasons import connect_reason, seconds_text, shown, size_text, status_reason
from monitor.crawl.results import CachedPage, CrawlStats
from monitor.crawl.transport import ListingTransport
from monitor.errors import FolderFailed

#: Statuses that say the server is overloaded: they slow the whole target down.
_OVERLOAD = frozenset({429, 503})


@dataclass(slots=True)
class Response:
    """A response read whole: status, headers, and the body of a 200 (else empty)."""

    status: int
    headers: httpx.Headers
    body: bytes


class Retryable(Exception):
    """One attempt failed in a way worth another try.

    ``wait`` is what a ``Retry-After`` asked for; ``overload`` says the server is overloaded
    (429, 503, or any ``Retry-After``): then every request of the target waits, not only this
    one.
    """

    def __init__(self, reason: str, wait: float | None = None, *, overload: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait
        self.overload = overload or wait is not None


def open_client(
    limits: CrawlLimits,
    options: ClientOptions,
    stats: CrawlStats,
    *,
    connections: int | None = None,
    cookies: CookieJar | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """A client with the crawl's settings: ``connections`` kept-alive connections (the
    crawl's ``concurrency`` by default), proxies from the environment, requests counted.

    A ``transport`` given replaces httpx's (which alone reads proxies from the environment).
    """

    async def count(request: httpx.Request) -> None:
        stats.requests += 1

    size = limits.concurrency if connections is None else connections
    return httpx.AsyncClient(
        headers={**options.headers, "Accept-Encoding": "gzip"},  # the only coding inflated here
        auth=options.auth,
        cookies=cookies,
        verify=options.verify,
        timeout=httpx.Timeout(limits.timeout),
        limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
        follow_redirects=False,
        trust_env=True,
        event_hooks={"request": [count]},
        transport=transport,
    )


def proxied() -> bool:
    """Whether the environment names a proxy, as httpx reads it (``HTTP_PROXY``, …)."""
    proxies = getproxies()
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


class Clients:
    """The clients of one crawl: one per worker, each of one connection, opened when first
    used, closed together (``async with``)."""

    def __init__(self, limits: CrawlLimits, options: ClientOptions, stats: CrawlStats) -> None:
        self._limits, self._options, self._stats = limits, options, stats
        self._cookies = CookieJar()  # one jar, as one client would have
        self._open: dict[int, httpx.AsyncClient] = {}
        self._fast = not proxied()

    def client(self, worker: int) -> httpx.AsyncClient:
        """The client of worker ``worker`` (0 to ``concurrency - 1``)."""
        if not 0 <= worker < self._limits.concurrency:
            raise IndexError(f"no worker {worker} in a crawl of {self._limits.concurrency}")
        client = self._open.get(worker)
        if client is None:
            transport = ListingTransport(self._options.verify) if self._fast else None
            client = self._open[worker] = open_client(
                self._limits,
                self._options,
                self._stats,
                connections=1,
                cookies=self._cookies,
                transport=transport,
            )
        return client

    async def aclose(self) -> None:
        clients, self._open = list(self._open.values()), {}
        for client in clients:
            await client.aclose()

    async def __aenter__(self) -> Clients:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


def _close_delimited_html(response: httpx.Response) -> bool:
    """Whether an HTML page's end is marked only by the closing of the connection (HTTP/1)."""
    headers = response.headers
    return (
        response.http_version.startswith("HTTP/1")
        and "content-length" not in headers
        and "chunked" not in headers.get("transfer-encoding", "").lower()
        and "html" in headers.get("content-type", "").lower()
    )


def conditional_headers(cached: CachedPage | None) -> dict[str, str]:
    """``If-None-Match`` from the ETag of a kept page (see :class:`CachedPage`)."""
    return {"If-None-Match": cached.etag} if cached is not None else {}


class Fetcher:
    """The requests of one crawl, which must end by the poll's deadline (``poll_timeout``).

    ``cache`` holds the pages of the previous crawl: their validators go with their requests.
    """

    def __init__(
        self,
        stats: CrawlStats,
        *,
        limits: CrawlLimits,
        timing: Timing,
        cache: Mapping[str, CachedPage],
    ) -> None:
        self.stats, self.limits, self.timing = stats, limits, timing
        self.cache = cache
        self.pacer = Pacer(limits.rate, timing)
        self.deadline = timing.clock() + limits.poll_timeout

    async def get(self, client: httpx.AsyncClient, url: str, path: str) -> Response:
        """One request with its retries; the response (not 429 or 5xx) or FolderFailed."""
        reason = ""
        for attempt in range(self.limits.retries + 1):
            await self._pace(path)
            try:
                return await self._request(client, url, path)
            except Retryable as exc:
                reason = exc.reason
                if attempt < self.limits.retries:
                    await self._back_off(attempt, exc, path)
        raise FolderFailed(path, reason)

    async def _pace(self, path: str) -> None:
        if not await self.pacer.wait(self.deadline):
            raise FolderFailed(path, self._late())

    def _late(self) -> str:
        return f"poll_timeout ({seconds_text(self.limits.poll_timeout)}) reached"

    async def _back_off(self, attempt: int, failure: Retryable, path: str) -> None:
        """Sleep before the next try; an overloaded server pauses the whole target as long.

        Giving up (no time left before the deadline) holds nothing: the other folders go on.
        """
        delay = backoff(attempt, self.timing.random)
        now = self.timing.clock()
        if failure.wait is not None:
            delay = max(delay, failure.wait)
        if now + delay >= self.deadline:
            raise FolderFailed(path, f"{failure.reason}; no time left in the poll to retry")
        if failure.overload:
            self.pacer.hold(now + (delay if failure.wait is None else failure.wait))
        await self.timing.sleep(delay)

    async def _request(self, client: httpx.AsyncClient, url: str, path: str) -> Response:
        """One attempt, bounded by ``timeout`` and the poll's deadline."""
        limit = min(self.limits.timeout, self.deadline - self.timing.clock())
        try:
            async with asyncio.timeout(limit):
                return await self._send(client, url, path)
        except (TimeoutError, httpx.TimeoutException) as exc:
            if limit < self.limits.timeout:
                raise FolderFailed(path, self._late()) from exc
            raise Retryable(f"timed out after {seconds_text(limit)}") from exc
        except (httpx.ConnectError, httpx.ProxyError, ssl.SSLError) as exc:
            reason, again = connect_reason(exc)
            if not again:
                raise FolderFailed(path, reason) from exc
            raise Retryable(reason) from exc
        except httpx.TransportError as exc:
            raise Retryable(connect_reason(exc)[0]) from exc
        except httpx.InvalidURL as exc:
            raise FolderFailed(path, f"invalid URL {shown(url)}") from exc

    async def _send(self, client: httpx.AsyncClient, url: str, path: str) -> Response:
        headers = conditional_headers(self.cache.get(url))
        async with client.stream("GET", url, headers=headers) as response:
            self._note_peer(response)
            status = response.status_code
            body = await (self._read(response, path) if status == 200 else discard(response))
            self.stats.bytes += response.num_bytes_downloaded
            if status == 429 or 500 <= status <= 599:
                left = max(0.0, self.deadline - self.timing.clock())
                wait = retry_after(response.headers, self.timing.wall, cap=left)
                raise Retryable(status_reason(status), wait, overload=status in _OVERLOAD)
            return Response(status, response.headers, body)

    async def _read(self, response: httpx.Response, path: str) -> bytes:
        cap = self.limits.max_page_bytes
        too_large = f"listing larger than {size_text(cap)} (max_page_bytes)"
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > cap:
            raise FolderFailed(path, too_large)
        encoding = response.headers.get("content-encoding", "").strip().lower()
        try:
            body = BoundedBody(encoding, cap, int(length) if length.isdigit() else None)
            async for chunk in response.aiter_raw():
                body.feed(chunk)
            data = body.finish()
            if _close_delimited_html(response):
                check_html_end(data)
            return data
        except TooLarge as exc:
            raise FolderFailed(path, too_large) from exc
        except Truncated as exc:
            raise Retryable(str(exc)) from exc
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
