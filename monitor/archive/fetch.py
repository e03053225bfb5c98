"""Downloading one file version: its body hashed (SHA-256) as it comes and kept (in memory or
in a temporary file of the blob store: :mod:`~monitor.archive.body`), its type read from its
first bytes, its provenance recorded. Local targets: :mod:`~monitor.archive.local_fetch`.

A fetch ends in a :class:`Fetched` whose ``status`` is

- ``complete``: the whole body is in ``body``, for the store, as long as the listing said;
- ``changed``: the body was not what the listing promised (another size, from the listing
  or from ``Content-Length``; a ``Last-Modified`` that says the file changed since; for a
  local file, another size or mtime, before or while it was read); nothing is kept;
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
from datetime import UTC, datetime

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
from monitor.crawl.transport import ListingTransport, raw_body

#: What a Last-Modified may differ from the listing's mtime by (listings show minutes).
MTIME_TOLERANCE = 60
#: The most a Retry-After is waited for within one archive run (longer: retried next poll).
MAX_RETRY_AFTER = 60.0


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

    def cap(self) -> tuple[int | None, str, str]:
        """The most bytes to read, and the status and reason when more come."""
        if self.size is not None:
            return self.size, "changed", f"longer than the {size_text(self.size)} listed"
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

    @property
    def headers_json(self) -> str | None:
        return None if self.headers is None else json.dumps(self.headers, ensure_ascii=True)


class _Retryable(Exception):
    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


#: What a download asks for: any type, the bytes as stored (never compressed on the way).
_DOWNLOAD = {"Accept": "*/*", "Accept-Encoding": "identity"}


def direct_headers(target: HttpTarget, options: ClientOptions) -> list[tuple[str, str]] | None:
    """The headers of a download sent without a client in between, or None when a client is
    needed: a proxy from the environment, or Digest authentication (a challenge to answer).

    httpx's client costs about 0.3 ms of CPU per request (its models, auth flow, cookies,
    hooks), as much as the rest of fetching a small file; the crawl's transport alone does
    what a download needs.
    """
    if proxied() or isinstance(target.auth, DigestAuth):
        return None
    headers = {**options.headers, **_DOWNLOAD}
    if isinstance(target.auth, BasicAuth):
        pair = f"{target.auth.username}:{target.auth.password.get_secret_value()}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    return list(headers.items())


def body_for(store: BlobStore, wanted: Wanted) -> Body:
    """A :class:`Body` for ``wanted``, capped as :meth:`Wanted.cap` says."""
    cap, status, reason = wanted.cap()
    return Body(store, cap, (status, reason))


def finished(fetched: Fetched, body: Body) -> Fetched:
    """``fetched`` complete with ``body``, or (when it has an error) with the body dropped."""
    fetched.size = body.size
    if fetched.error is not None:
        body.discard()
        return fetched
    fetched.sha256 = body.sha256
    fetched.mime, fetched.description = body.type()
    fetched.body = body
    fetched.status = "complete"
    return fetched


def differs(expected: int | None, got: int) -> str | None:
    if expected is not None and got != expected:
        return f"{size_text(got)} received, the listing showed {size_text(expected)}"
    return None


def response_headers(headers: httpx.Headers) -> dict[str, str | list[str]]:
    """The headers as received: lower-case names; a repeated header as a list."""
    kept: dict[str, str | list[str]] = {}
    for name, value in headers.multi_items():
        before = kept.get(name)
        if before is None:
            kept[name] = value
        elif isinstance(before, list):
            before.append(value)
        else:
            kept[name] = [before, value]
    return kept


def _peer(response: httpx.Response, fetched: Fetched) -> None:
    stream = response.extensions.get("network_stream")
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
    ) -> None:
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
        self.direct = direct_headers(target, options)
        self.transports: dict[int, ListingTransport] = {}
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
        """One try (with the target's retries) to fetch ``wanted``."""
        reason = ""
        for attempt in range(self.limits.retries + 1):
            await self.pacer.wait()
            fetched = Fetched(wanted, "failed", self.now())
            try:
                return await self._get(worker, fetched)
            except _Retryable as exc:
                reason = exc.reason
                if attempt < self.limits.retries:
                    delay = backoff(attempt, self.timing.random)
                    if exc.wait is not None:
                        delay = max(delay, min(exc.wait, MAX_RETRY_AFTER))
                    await self.timing.sleep(delay)
        fetched.error = f"{reason} (after {self.limits.retries + 1} tries)"
        return fetched

    async def _get(self, worker: int, fetched: Fetched) -> Fetched:
        url = fetched.wanted.url
        try:
            if self.direct is None:
                client = self.clients.client(worker)
                async with client.stream("GET", url, headers=_DOWNLOAD) as response:
                    return await self._read(response, fetched)
            response = await self._send_direct(worker, url)
            try:
                return await self._read(response, fetched)
            finally:
                await response.aclose()
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

    async def _send_direct(self, worker: int, url: str) -> httpx.Response:
        """The request straight to the worker's transport (no client in between)."""
        transport = self.transports.get(worker)
        if transport is None:
            transport = self.transports[worker] = ListingTransport(self.verify)
        extensions = {"timeout": self.timeouts}
        request = httpx.Request("GET", url, headers=self.direct, extensions=extensions)
        self.stats.requests += 1
        return await transport.handle_async_request(request)

    async def _read(self, response: httpx.Response, fetched: Fetched) -> Fetched:
        wanted = fetched.wanted
        fetched.http_status = response.status_code
        fetched.headers = response_headers(response.headers)
        _peer(response, fetched)
        status = response.status_code
        if status == 429 or 500 <= status <= 599:
            wait = retry_after(response.headers, self.timing.wall, cap=MAX_RETRY_AFTER)
            raise _Retryable(status_reason(status), wait)
        if status != 200:
            location = response.headers.get("location")
            where = f" to {shown(location)} (not followed)" if location else ""
            fetched.error = f"{status_reason(status)}{where}"
            return fetched
        length = response.headers.get("content-length", "")
        promised = int(length) if length.isascii() and length.isdigit() else None
        why = differs(wanted.size, promised) if promised is not None else None
        why = why or modified_since_listing(response.headers.get("last-modified"), wanted.mtime_ns)
        if why:
            fetched.status, fetched.error = "changed", why.replace("received", "announced", 1)
            return fetched
        big = promised is not None and promised > SPILL_BYTES
        return await self._stream(response, fetched, big)

    async def _stream(self, response: httpx.Response, fetched: Fetched, big: bool) -> Fetched:
        """Read the body: a big one framed by Content-Length straight from the socket."""
        wanted = fetched.wanted
        body = body_for(self.store, wanted)
        try:
            raw = raw_body(response) if big else None
            if raw is not None:
                await body.receive(raw)
            else:
                async for chunk in response.aiter_raw():
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
        if fetched.error is None and (why := differs(wanted.size, body.size)):
            fetched.status, fetched.error = "changed", why
        return finished(fetched, body)
