"""The ``http`` source: a folder that an HTTP server lists as index pages (autoindex).

The walk is :mod:`monitor.crawl`; this module turns an :class:`~monitor.config.HttpTarget` into
its settings and its result into a :class:`~monitor.sources.base.Listing`. Pages are parsed by
:func:`monitor.sources.listings.parse_listing` (times printed without an offset are read in the
target's ``listing_timezone``).

What is listed:

- files, with the size, mtime and etag the page shows (a format without them leaves ``None``;
  nginx shows minutes, so mtimes are as precise as the page);
- directories, with ``size`` and ``mtime_ns`` left ``None``, as the local source does: a
  folder's date moves whenever a child changes.

Requests carry ``User-Agent: <user_agent> (+<contact>)``, the target's ``headers`` and its
``auth`` (basic, digest, or a bearer token); TLS is verified against the system's CAs, or
``ca_bundle`` alone, unless ``verify_tls = false``; ``client_cert`` / ``client_key`` present a
client certificate (an encrypted key is refused, never prompted for). Proxies come from the
environment (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``), through httpx.

The listing's ``info`` holds ``ip`` (the address the root's connection went to: a proxy's when
there is one), ``server`` (the root's ``Server`` header), ``tls_sha256`` (SHA-256 of the
server's certificate, https only), ``requests`` (sent, an auth challenge's included), ``bytes``
(of the response bodies read, as sent: before decompression) and ``format`` (the listing
formats seen, comma-separated).

Conditional requests: each target keeps, for the life of the process, the pages that came with
an ``ETag`` (see :mod:`monitor.crawl`); only those pages are kept, so a
server that sends no validators (nginx's autoindex) costs no memory. A cache may also be
handed in, to share or drop it.
"""

from __future__ import annotations

import ssl
from dataclasses import replace
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx

from monitor.config import BasicAuth, BearerAuth, DigestAuth, HttpTarget
from monitor.crawl import (
    CachedPage,
    ClientOptions,
    CrawlLimits,
    PageCache,
    ParsePage,
    Timing,
    crawl,
    http_date,
)
from monitor.errors import RootUnavailable
from monitor.sources.base import Listing, ProgressCallback
from monitor.sources.listings import ACCEPT, Page, PageInput, parse_listing
from monitor.sources.local import Rules

#: Target name → (its config as JSON, the pages kept for conditional requests). A changed
#: config (headers, URL, auth) starts a new cache and drops the old one.
_PAGE_CACHES: dict[str, tuple[str, dict[str, CachedPage]]] = {}


def _page_cache(target: HttpTarget) -> dict[str, CachedPage]:
    config = target.model_dump_json()
    kept = _PAGE_CACHES.get(target.name)
    if kept is None or kept[0] != config:
        kept = _PAGE_CACHES[target.name] = (config, {})
    return kept[1]


def crawl_limits(target: HttpTarget) -> CrawlLimits:
    return CrawlLimits(
        concurrency=target.concurrency,
        rate=target.rate,
        retries=target.retries,
        timeout=target.timeout.total_seconds(),
        poll_timeout=target.poll_timeout.total_seconds(),
        max_depth=target.max_depth,
        max_entries=target.max_entries,
        max_page_bytes=target.max_page_bytes,
    )


def _no_password() -> bytes:
    return b""  # an encrypted key fails to load instead of prompting on a terminal


def tls_context(target: HttpTarget) -> ssl.SSLContext:
    """The TLS settings of the target; RootUnavailable when a file cannot be used."""
    what, path = "ca_bundle", target.ca_bundle
    try:
        if not target.verify_tls:
            context = httpx.create_ssl_context(verify=False)
        elif target.ca_bundle is not None:
            context = ssl.create_default_context(cafile=str(target.ca_bundle))
        else:
            context = httpx.create_ssl_context(verify=True)
        what, path = "client_cert", target.client_cert
        if target.client_cert is not None:
            key = str(target.client_key) if target.client_key is not None else None
            context.load_cert_chain(str(target.client_cert), key, password=_no_password)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        message = f"cannot list {target.url}: cannot use {what} {path}: {reason}"
        raise RootUnavailable(message) from exc
    return context


def client_options(target: HttpTarget) -> ClientOptions:
    """Headers, authentication and TLS for every request of the target."""
    headers = {"User-Agent": target.user_agent_header, "Accept": ACCEPT}
    headers.update(target.headers)
    auth: httpx.Auth | None = None
    match target.auth:
        case BasicAuth(username=user, password=password):
            auth = httpx.BasicAuth(user, password.get_secret_value())
        case DigestAuth(username=user, password=password):
            auth = httpx.DigestAuth(user, password.get_secret_value())
        case BearerAuth(token=token):
            headers["Authorization"] = f"Bearer {token.get_secret_value()}"
    return ClientOptions(headers=headers, auth=auth, verify=tls_context(target))


def page_parser(zone: ZoneInfo) -> ParsePage:
    """Pages of any format the listings package knows, times read in ``zone``."""

    def parse(body: bytes, url: str, headers: httpx.Headers) -> Page:
        rendered = http_date(headers.get("date", ""))  # nginx's localtime pages need it
        return parse_listing(PageInput(body, url, headers.get("content-type"), zone, rendered))

    return parse


class HttpSource:
    """Lists an :class:`~monitor.config.HttpTarget`; see the module docstring."""

    def __init__(
        self, target: HttpTarget, *, timing: Timing | None = None, cache: PageCache | None = None
    ) -> None:
        self.target = target
        self.timing = timing or Timing()
        self.cache = _page_cache(target) if cache is None else cache
        self.rules = Rules.from_target(target)
        self.parse = page_parser(ZoneInfo(target.listing_timezone))

    async def list(self, progress: ProgressCallback | None = None) -> Listing:
        """Crawl the root and every folder under it; RootUnavailable if the root fails."""
        result = await crawl(
            self.target.url,
            self.parse,
            rules=self.rules,
            limits=crawl_limits(self.target),
            options=client_options(self.target),
            timing=self.timing,
            cache=self.cache,
            progress=progress,
        )
        return Listing(
            entries=result.entries,
            failed_folders=result.failed,
            info=result.stats.info(),
            skipped=result.skipped,
        )

    async def probe(self) -> str:
        """List the root page only and describe it in one line."""
        result = await crawl(
            self.target.url,
            self.parse,
            limits=replace(crawl_limits(self.target), max_depth=0),
            options=client_options(self.target),
            timing=self.timing,
        )
        stats = result.stats
        folders = sum(1 for entry in result.entries if entry.type == "dir")
        tls = f"tls sha256 {stats.tls_sha256}" if stats.tls_sha256 else None
        facts = (",".join(sorted(stats.formats)) + " format", stats.server, stats.ip, tls)
        where = "; ".join(x for x in facts if x)
        return (
            f"http listing {self.target.url}: {len(result.entries)} entries at the top level "
            f"({folders} folder{'' if folders == 1 else 's'}; {where})"
        )

    def url_for(self, path: str) -> str:
        """The URL of an entry: each segment percent-encoded from the exact bytes of the name."""
        segments = (quote(s.encode("utf-8", "surrogateescape"), safe="") for s in path.split("/"))
        return self.target.url + "/".join(segments) if path else self.target.url
