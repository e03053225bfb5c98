"""Sources: one module per protocol, picked by a target's ``kind`` from :data:`SOURCES`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monitor.config import TargetConfig
from monitor.errors import ConfigError
from monitor.sources.base import Entry, FolderFailure, Listing, ProgressCallback, Source
from monitor.sources.local import LocalSource

__all__ = [
    "SOURCES",
    "Entry",
    "FolderFailure",
    "Listing",
    "LocalSource",
    "ProgressCallback",
    "Source",
    "make_source",
]


def _http_source(target: Any) -> Source:
    # Imported on use: monitor.crawl (which the http source drives) imports this package.
    from monitor.sources.http import HttpSource

    return HttpSource(target)


#: ``kind`` → the class that lists a target of that kind (called with the target's config).
SOURCES: dict[str, Callable[[Any], Source]] = {
    "local": LocalSource,
    "http": _http_source,
}


def make_source(target: TargetConfig) -> Source:
    """The source for ``target``, chosen by its ``kind``; ConfigError for an unknown kind."""
    kind = str(target.kind)
    factory = SOURCES.get(kind)
    if factory is None:
        known = ", ".join(sorted(SOURCES))
        raise ConfigError(
            f"target {target.name!r}: unknown source kind {kind!r} (known kinds: {known})"
        )
    return factory(target)
