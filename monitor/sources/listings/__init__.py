"""Directory-listing pages as HTTP servers render them, parsed into the items of one folder.

:func:`parse_listing` detects the format of a page and hands it to the parser for it (one
module per server family in this package), falling back to :mod:`generic` (links only).
Names always come from the ``href`` — decoded, one path segment, the child of the page's own
URL — never from the link text, which servers truncate and escape in their own ways.
Everything here is untrusted input: a page that is not a listing (an error or login page
served with 200) raises :class:`NotAListing`; it never reads as an empty folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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


#: A parser returns a Page, or None when the page is not in its format.
Parser = Callable[[PageInput], Page | None]

#: Tried in order; the first that recognises the page wins. Structured formats come first.
PARSERS: list[Parser] = []


def parse_listing(page: PageInput) -> Page:
    """Parse a listing page of any known format; raise NotAListing if it is none."""
    from monitor.sources.listings import generic

    for parser in PARSERS:
        parsed = parser(page)
        if parsed is not None:
            return parsed
    return generic.parse(page)
