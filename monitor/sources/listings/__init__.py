"""Directory-listing pages as HTTP servers render them, parsed into the items of one folder.

:func:`parse_listing` detects the format of a page and hands it to the parser for it (one
module per server family in this package), falling back to :mod:`generic` (links only).
Names always come from the ``href`` — decoded, one path segment, the child of the page's own
URL — never from the link text, which servers truncate and escape in their own ways.
Everything here is untrusted input: a page that is not a listing (an error or login page
served with 200) raises :class:`NotAListing`; it never reads as an empty folder.

Formats (the ``Page.format`` names), in the order they are tried — structured ones first, then
the HTML of each server family, most specific first. Before them all, a page in exactly
nginx's HTML layout (the whole page as nginx writes it, which no other parser takes) is read
at once by :func:`.nginx.parse_html_exact`, so the others do not parse it first:

=============  ===================================  =======================  ==================
format         server                               sizes                    times
=============  ===================================  =======================  ==================
nginx-json     nginx ``autoindex_format json``      exact                    second, UTC
caddy-json     Caddy browse, JSON (send `ACCEPT`)   exact                    nanosecond
json           an empty JSON array (either), sent   -                        -
               as ``application/json``
nginx-xml      nginx ``autoindex_format xml``       exact                    second, UTC
wsgidav        wsgidav's directory browser          exact                    second, UTC
caddy          Caddy browse, HTML                   exact                    second, UTC
rclone         ``rclone serve http``                exact                    nanosecond
lighttpd       lighttpd mod_dirlisting              rounded (0.1 K/M/G)      second, zone
apache         Apache mod_autoindex                 exact < 973 B, rounded;  minute, zone;
                                                    none without Fancy       none without Fancy
iis            IIS directory browsing               exact                    minute, zone
nginx          nginx autoindex HTML                 exact; rounded (K/M/G)   minute, UTC or
                                                    if exact_size off        zone (localtime)
pyhttp         Python's http.server                 none                     none
generic        anything else that looks like an     none                     none
               index (see :mod:`.generic`)
=============  ===================================  =======================  ==================

Detection relies on structure that names cannot forge (they are escaped text inside links):
nginx's ``<h1>Index of …</h1><hr><pre><a href="../">``, IIS's ``<br>`` after each link,
Apache's column header and rules. A part of the page that a server lets a folder's owner write
(Apache's ``HeaderName``/``ReadmeName`` files) may imitate a listing: when two parts of a page
look like the listing, the page raises :class:`NotAListing` rather than pick one.

Formats that one server renders for different folders of the same tree: ``json`` (an empty
folder) goes with ``nginx-json`` and with ``caddy-json``; every other format only with itself
(``apache`` covers all of Apache's layouts, ``nginx`` all of nginx's HTML settings).

"zone" means the time is printed without an offset and read in :attr:`PageInput.zone` (the
target's setting: the server's zone). nginx's ``autoindex_localtime`` is a special case: it
adds the offset in force *when the page is rendered* to every time, so its times are read with
the zone's offset at :attr:`PageInput.fetched_at` — and stay right across a change of summer
time, when the page's text moves by an hour. Rounded sizes are explained in :mod:`.common`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from monitor.errors import SourceError


class NotAListing(SourceError):
    """The page is not a directory listing (an error page, a login form, an app)."""


@dataclass(frozen=True, slots=True)
class ListedItem:
    """One child of a listed folder, as the page describes it."""

    #: One path segment, percent-decoded; bytes that are not UTF-8 kept via surrogateescape.
    name: str
    is_dir: bool
    size: int | None = None
    mtime_ns: int | None = None
    etag: str | None = None
    #: False when the page printed the size rounded to a unit (``4.9K``).
    size_exact: bool = True


@dataclass(slots=True)
class Page:
    """A parsed listing page."""

    format: str
    items: list[ListedItem] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PageInput:
    """What a parser gets: the raw body and what the response said about it."""

    body: bytes
    url: str
    content_type: str | None = None
    #: Zone of timestamps that a format prints without an offset (the target's setting).
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    #: When the server rendered the page (its Date header, else the crawler's clock); only
    #: nginx's localtime pages need it. None means now.
    fetched_at: datetime | None = None


#: A parser returns a Page, or None when the page is not in its format.
Parser = Callable[[PageInput], Page | None]

#: The Accept header to send for listing pages: servers that can answer in a structured
#: format (Caddy's browse sends JSON) then do; the others ignore it and send their HTML.
ACCEPT = "application/json, text/html;q=0.9, application/xhtml+xml;q=0.9, */*;q=0.5"

#: Tried in order; the first that recognises the page wins. Structured formats come first.
PARSERS: list[Parser] = []


def parse_listing(page: PageInput) -> Page:
    """Parse a listing page of any known format; raise NotAListing if it is none."""
    from monitor.sources.listings import generic

    exact = nginx.parse_html_exact(page)
    if exact is not None:
        return exact
    for parser in PARSERS:
        parsed = parser(page)
        if parsed is not None:
            return parsed
    return generic.parse(page)


from monitor.sources.listings import (  # noqa: E402 - the parsers use the names above
    apache,
    caddy,
    iis,
    lighttpd,
    nginx,
    pyhttp,
    rclone,
    wsgidav,
)

PARSERS.extend(
    [
        nginx.parse_json,
        caddy.parse_json,
        nginx.parse_xml,
        wsgidav.parse,
        caddy.parse_html,
        rclone.parse,
        lighttpd.parse,
        apache.parse,
        iis.parse,
        nginx.parse_html,
        pyhttp.parse,
    ]
)
