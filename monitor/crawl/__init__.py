"""The crawl: a polite, bounded-concurrency walk of the listing pages under one HTTP root.

:func:`crawl` lists a root URL and every folder under it (with ``max_depth = 0``, only the
root). ``concurrency`` workers take folders from one queue, each with its own
:class:`httpx.AsyncClient` of one kept-alive connection (:class:`Clients`; they share auth and
cookies). A page is turned into items by the ``parse`` function they are given (an http source
hands in the listings package); the crawl knows page formats only by name (see "Format").

Scope lock (:class:`Scope`): every URL requested, link or redirect hop, has the root's scheme,
host (in punycode) and port, no query string, fragment or credentials, and a path that, read
as the server reads it (percent-decoded, cut at ``/`` and ``\\``), is under the root's path
and holds no ``.``, ``..``, ``..;`` segment or NUL: ``/drop/..%2fsecret/`` is refused.
Children are built from the names the parser found (one percent-encoded path segment each),
never from hrefs; a name that would leave the root is a failed folder, never requested.
Redirects are followed by hand, at most :data:`MAX_REDIRECTS` hops, each checked; a hop out
of scope fails the folder, and so does one that ends on a URL without a final ``/`` (its
links would not be the folder's).

One URL, one folder (see :mod:`~monitor.crawl.walk`): URLs are compared by the path they
name, decoded (``%c3%a9`` is ``%C3%A9``). A folder that redirects to a folder a listing names
is an alias of it and fails (``"redirects to URL, listed already"``), whether the redirect was
followed before or after that listing: a page reached by redirects is held until every listing
is in, so the result does not depend on the order the workers ran in.

Politeness: requests start no closer together than ``1 / rate`` seconds (:class:`Pacer`, a
token bucket of one token, in turn). A connect error, a timeout, a dropped or cut connection,
429 or 5xx is retried ``retries`` times after ``random() * min(BACKOFF_CAP, BACKOFF_BASE *
2**attempt)`` seconds ("full jitter"). 429 and 503 say the server is overloaded: the whole
target waits that long, or as long as a ``Retry-After`` asks (seconds or an HTTP date, read
against the response's ``Date``, cut to the time left in the poll). An untrusted certificate
is not retried. Time comes from :class:`Timing`, so tests drive backoff without waiting.

Caps: a request may take ``timeout`` seconds from connect to its last byte, the crawl
``poll_timeout``: no one sleeps past the poll's deadline — a start the pacer could give only
after it, or a retry that would come after it, fails the folder at once, and a folder that
gives up holds no one else. A page may hold ``max_page_bytes`` after decompression (only gzip
is accepted, decoded here with a bounded inflater) and must arrive whole (its
``Content-Length``, the end of its gzip stream, or ``</html>`` when the closing of the
connection ends it); folders deeper than ``max_depth`` are not requested; past
``max_entries`` entries the crawl stops and queues no more folders. A queued folder is its
parent and its path, not a URL.

Format: every folder's page must be in the format of the root's (``Page.format``; ``json``, an
empty JSON array, goes with any JSON format): an error, login or challenge page with links
reads as ``generic``, and hostile names may trick detection into another format, so a page in
another format fails its folder (``"not the server's listing format: …"``).

Failures are data, as DESIGN.md asks. A folder that cannot be listed becomes a
:class:`FolderFailure` and its previous entries are carried forward: after its retries, on
401/403/404 or any other status, a page that is not a listing (``NotAListing``: an error or
login page served with 200 never reads as an empty folder) or not in the root's format, an
oversized or truncated page, a redirect out of scope or to an alias, a name out of scope,
``max_depth`` (``"deeper than max_depth (N)"``), the poll's deadline (folders not listed in
time) and ``max_entries`` (``""``, the root, like the local source). When the root itself
fails the crawl raises :class:`~monitor.errors.RootUnavailable` with the reason.

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
from monitor.crawl.fetch import Clients, open_client
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
    "Clients",
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
