"""What every view shares: the frozen base model, times, entries, targets, paging, JSON text.

Times are converted to the zone a view is asked for and written as ISO 8601 with their offset
(``isoformat``, as the CLI writes them); paths are decoded, exactly as a source gave them (an
undecodable byte is the lone surrogate ``\\udcXX``); nothing is escaped for HTML.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Annotated, Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema
from sqlalchemy import Connection, select

from monitor.config import Settings, TargetConfig
from monitor.errors import NotFound, UsageError
from monitor.output import to_json
from monitor.report import mtime_of
from monitor.sources import make_source
from monitor.store.models import Blob, Capture
from monitor.store.queries import StoredVersion, target_t


def _iso(moment: datetime) -> str:
    return moment.isoformat()


#: An aware datetime, written as ``isoformat()`` gives it (``+01:00``, never ``Z``).
Moment = Annotated[
    datetime,
    PlainSerializer(_iso, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]

UrlFor = Callable[[str], str]


class View(BaseModel):
    """The base of every view model: frozen, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


T = TypeVar("T")


class Page(View, Generic[T]):
    """One page of a longer list."""

    items: list[T] = Field(description="The rows of this page.")
    total: int = Field(description="Rows in the whole list (after filters).")
    offset: int = Field(description="Rows skipped before this page.")
    limit: int = Field(description="Rows a page holds at most.")


class Entry(View):
    """One file or folder in one state, shaped as ``monitor diff --format json`` shapes it."""

    path: str = Field(description="Relative to the target root, '/'-separated, decoded.")
    type: str = Field(description="'file' or 'dir'.")
    size: int | None = Field(description="Bytes, as the server said (None: not given).")
    mtime: Moment | None = Field(description="Modification time the server gave.")
    url: str | None = Field(description="Where the entry is (None: the target is not configured).")


class ArchivedBody(View):
    """What the archive holds of one version."""

    status: str | None = Field(
        description="The last capture's status: complete, failed, changed, skipped; None: never "
        "tried."
    )
    archived: bool = Field(description="True when a stored body exists (a complete capture).")
    sha256: str | None = Field(description="SHA-256 of the stored body.")
    size: int | None = Field(description="Bytes of the stored body.")
    mime: str | None = Field(description="MIME type detected from the bytes (not the name).")
    description: str | None = Field(description="File type detected from the bytes.")
    fetched_at: Moment | None = Field(description="When the stored body was fetched.")
    error: str | None = Field(description="Why the last try failed or was skipped.")


@dataclass(frozen=True)
class TargetInfo:
    """A target as the views know it: from the database, the config, or both."""

    name: str
    kind: str
    id: int | None
    config: TargetConfig | None

    @cached_property
    def url_for(self) -> UrlFor | None:
        """The source's ``url_for`` (made once: a source compiles the target's globs)."""
        return None if self.config is None else make_source(self.config).url_for

    def url(self, path: str) -> str | None:
        url_for = self.url_for
        return None if url_for is None else url_for(path)


def resolve_target(conn: Connection, settings: Settings, name: str) -> TargetInfo:
    """The target called ``name``; NotFound when neither the config nor the database has it."""
    config = next((t for t in settings.targets if t.name == name), None)
    row = conn.execute(
        select(target_t.c.id, target_t.c.kind).where(target_t.c.name == name)
    ).first()
    if row is None and config is None:
        raise NotFound(f"no target named {name!r}")
    kind = str(config.kind) if config is not None else str(row.kind) if row is not None else ""
    return TargetInfo(name, kind, None if row is None else int(row.id), config)


def all_targets(conn: Connection, settings: Settings) -> list[TargetInfo]:
    """Configured targets in config order, then those only the database knows, by name."""
    rows = {str(r.name): (int(r.id), str(r.kind)) for r in conn.execute(select(target_t))}
    found = [
        TargetInfo(t.name, str(t.kind), rows[t.name][0] if t.name in rows else None, t)
        for t in settings.targets
    ]
    configured = {t.name for t in settings.targets}
    found += [
        TargetInfo(name, kind, tid, None)
        for name, (tid, kind) in sorted(rows.items())
        if name not in configured
    ]
    return found


def local(moment: datetime | None, zone: ZoneInfo) -> datetime | None:
    return None if moment is None else moment.astimezone(zone)


def entry_of(version: StoredVersion, target: TargetInfo, zone: ZoneInfo) -> Entry:
    return Entry(
        path=version.path,
        type=version.type,
        size=version.size,
        mtime=local(mtime_of(version), zone),
        url=target.url(version.path),
    )


def archived_body(captures: list[Capture], blobs: dict[str, Blob], zone: ZoneInfo) -> ArchivedBody:
    """The archive's state of a version from its captures (newest first) and their blobs."""
    done = next((c for c in captures if c.status == "complete" and c.sha256 in blobs), None)
    last = captures[0] if captures else None
    blob = blobs[done.sha256] if done is not None and done.sha256 is not None else None
    return ArchivedBody(
        status=None if last is None else last.status,
        archived=blob is not None,
        sha256=None if blob is None else blob.sha256,
        size=None if blob is None else blob.size,
        mime=None if blob is None else blob.mime,
        description=None if blob is None else blob.description,
        fetched_at=None if done is None else local(done.fetched_at, zone),
        error=None if last is None else last.error,
    )


def check_paging(offset: int, limit: int, *, most: int = 1000) -> None:
    if offset < 0:
        raise UsageError(f"offset must be 0 or more, not {offset}")
    if not 1 <= limit <= most:
        raise UsageError(f"limit must be between 1 and {most}, not {limit}")


def json_text(view: BaseModel) -> str:
    """A view as JSON text, written as the CLI writes JSON: valid UTF-8 even for undecodable
    file names (kept as ``\\udcXX`` escapes, which ``json.loads`` turns back into the name).

    pydantic's own ``model_dump_json`` refuses such names.
    """
    data: Any = view.model_dump(mode="json")
    return to_json(data)
