"""What a crawl gives back: its entries and failures, its stats, and the pages it may reuse."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field

from monitor.sources.base import Entry, FolderFailure
from monitor.sources.listings import Page


@dataclass(frozen=True, slots=True)
class CachedPage:
    """A listed page and the ETag it came with.

    Only an ETag is trusted: servers derive a listing's ``Last-Modified`` from the folder's
    mtime, which does not change when a file in it grows, so a 304 on that would hide it.
    """

    etag: str
    page: Page


#: Folder URL → the page it listed last time, for conditional requests.
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
    #: Whether a page printed sizes rounded to a unit (``4.9K``): the archive then takes a
    #: body of a length the server could have printed so (:func:`~monitor.archive.fetch.differs`).
    rounded: bool = False
    peer_noted: bool = False

    def info(self) -> dict[str, str | int]:
        info: dict[str, str | int] = {"requests": self.requests, "bytes": self.bytes}
        info["format"] = ",".join(sorted(self.formats))
        if self.rounded:
            info["rounded_sizes"] = 1
        for key in ("ip", "server", "tls_sha256"):
            value = getattr(self, key)
            if value is not None:
                info[key] = value
        return info


@dataclass(slots=True, repr=False)
class CrawlResult:
    """Entries sorted by path, the folders that failed, what was left out, and the stats."""

    entries: list[Entry]
    failed: list[FolderFailure]
    skipped: int
    folders: int
    stats: CrawlStats

    def __repr__(self) -> str:
        """Counts only: a crawl may hold a million entries (asyncio may repr a task's result)."""
        return (
            f"CrawlResult(entries={len(self.entries)}, failed={len(self.failed)}, "
            f"skipped={self.skipped}, folders={self.folders})"
        )
