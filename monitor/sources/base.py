"""What every source yields: entries, gathered into a listing, behind one small protocol.

A source lists one target. It never touches the database and knows nothing of snapshots: it
returns a :class:`Listing` (with the folders it could not read, so the poll can carry their old
entries forward) or raises :class:`~monitor.errors.RootUnavailable` when even the root failed.

Paths are relative to the target root, ``/``-separated, without a leading slash, decoded to
``str``. Bytes that are not valid UTF-8 are kept with ``surrogateescape`` (``os.fsdecode``), so
a name survives the round trip byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

EntryType = Literal["file", "dir"]

#: Called now and then during a listing with the number of entries and folders seen so far.
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class Entry:
    """One file or directory seen in a listing, with what the protocol tells of it."""

    path: str
    type: EntryType
    size: int | None = None
    mtime_ns: int | None = None
    etag: str | None = None


@dataclass(frozen=True, slots=True)
class FolderFailure:
    """A folder whose listing failed; everything under it keeps its previous state."""

    path: str
    reason: str


@dataclass(slots=True)
class Listing:
    """The result of listing a target once."""

    entries: list[Entry]
    failed_folders: list[FolderFailure] = field(default_factory=list)
    #: Facts about the crawl worth keeping with the snapshot (requests made, server, ...).
    info: dict[str, str | int] = field(default_factory=dict)
    #: Entries left out on purpose (symlinks out of the root, excluded by rules, over a cap).
    skipped: int = 0


class Source(Protocol):
    """A protocol adapter that lists one target."""

    async def list(self, progress: ProgressCallback | None = None) -> Listing:
        """List the whole target; raise RootUnavailable if its root cannot be listed."""
        ...

    async def probe(self) -> str:
        """Check that the root can be listed; return a one-line description of it."""
        ...

    def url_for(self, path: str) -> str:
        """The URL of an entry, for people and for fetching it."""
        ...
