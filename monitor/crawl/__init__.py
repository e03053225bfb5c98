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

Conditional requests: a page that came with an ``ETag`` is kept in the ``cache`` mapping
handed in (folder URL → :class:`CachedPage`); the next crawl with that mapping sends
``If-None-Match`` and a 304 reuses the kept items. ``Last-Modified`` is not used: for a listing
it is the folder's mtime, which a growing file does not change. After a crawl the mapping
holds exactly the pages of that crawl that had an ETag.

Modules, one job each: :mod:`~monitor.crawl.walk` (the queue, the workers, redirects, pages to
entries), :mod:`~monitor.crawl.fetch` (the client, requests and their retries),
:mod:`~monitor.crawl.pacing` (request spacing, backoff, ``Retry-After``),
:mod:`~monitor.crawl.scope` (the scope lock), :mod:`~monitor.crawl.body` (bounded bodies),
:mod:`~monitor.crawl.reasons` (failure reasons), :mod:`~monitor.crawl.options` and
:mod:`~monitor.crawl.results` (what a crawl is handed and what it gives back). The names below
are the public surface.
"""

from __future__ import annotations

from monitor.crawl.body import DISCARD_LIMIT, BoundedBody
from monitor.crawl.fetch import open_client
from monitor.crawl.options import NO_RULES, ClientOptions, CrawlLimits, ParsePage, Timing
from monitor.crawl.pacing import BACKOFF_BASE, BACKOFF_CAP, Pacer, http_date, retry_after
from monitor.crawl.reasons import connect_reason, seconds_text, shown, size_text, status_reason
from monitor.crawl.results import CachedPage, CrawlResult, CrawlStats, PageCache
from monitor.crawl.scope import Scope
from monitor.crawl.walk import MAX_REDIRECTS, PROGRESS_EVERY, crawl

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "DISCARD_LIMIT",
    "MAX_REDIRECTS",
    "NO_RULES",
    "PROGRESS_EVERY",
    "BoundedBody",
    "CachedPage",
    "ClientOptions",
    "CrawlLimits",
    "CrawlResult",
    "CrawlStats",
    "Pacer",
    "PageCache",
    "ParsePage",
    "Scope",
    "Timing",
    "connect_reason",
    "crawl",
    "http_date",
    "open_client",
    "retry_after",
    "seconds_text",
    "shown",
    "size_text",
    "status_reason",
]
