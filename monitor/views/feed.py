"""The newest batches for the Atom feed, and export rows (CSV, JSON) of a day diff and a batch.

Export rows are flat: a day diff's rows are ``monitor diff --format csv``'s (one per change:
``change, path, type, size, mtime, detail`` plus ``url``, built by
:func:`monitor.report.diff_rows`); :func:`csv_text` writes rows as the CLI writes CSV (a cell
a spreadsheet would run as a formula starts with a quote; undecodable bytes as ``\\xNN``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field
from sqlalchemy import Connection, select

from monitor.config import Settings
from monitor.errors import NotFound
from monitor.output import write_csv
from monitor.report import diff_rows
from monitor.store.models import Batch
from monitor.store.queries import batch_t, get_batch, target_names, target_t
from monitor.views._common import Moment, View, local
from monitor.views.batches import batch_files, batch_row
from monitor.views.days import DayDiff


class FeedEntry(View):
    """One batch as an entry of the feed."""

    id: int = Field(description="Batch id.")
    target: str = Field(description="Target name.")
    folder: str = Field(description="Its folder ('' for the target root).")
    files: int = Field(description="Files in it.")
    bytes: int = Field(description="Bytes of those files.")
    status: str = Field(description="open or settled.")
    review: str = Field(description="new, reviewed, flagged or dismissed.")
    reviewed_by: str | None = Field(description="Who last set its review status.")
    opened_at: Moment = Field(description="When its first file arrived.")
    settled_at: Moment | None = Field(description="When it settled (None: still open).")
    updated_at: Moment = Field(description="The latest of: last change, settling, review.")


class Feed(View):
    """The newest batches across targets."""

    updated_at: Moment | None = Field(description="The newest entry's updated_at (None: empty).")
    entries: list[FeedEntry] = Field(description="Newest batch first.")


class ChangeRow(View):
    """One change of a day diff, flat (as ``monitor diff --format csv``)."""

    change: str = Field(description="added, removed, modified or moved.")
    path: str = Field(description="The path (a move's new path).")
    type: str = Field(description="'file' or 'dir'.")
    size: int | None = Field(description="Bytes.")
    mtime: Moment | None = Field(description="Modification time the server gave.")
    url: str | None = Field(description="Where it is.")
    detail: str = Field(description="What changed (modified), where from (moved).")


class BatchFileExportRow(View):
    """One file of a batch, flat."""

    batch: int = Field(description="Batch id.")
    target: str = Field(description="Target name.")
    folder: str = Field(description="The batch's folder.")
    change: str = Field(description="added or modified.")
    path: str = Field(description="The path.")
    size: int | None = Field(description="Bytes.")
    mtime: Moment | None = Field(description="Modification time the server gave.")
    url: str | None = Field(description="Where it is.")
    now: str = Field(description="present, changed or gone.")
    sha256: str | None = Field(description="SHA-256 of the archived body (None: not archived).")
    mime: str | None = Field(description="MIME type of the archived body.")


def newest_batches(
    conn: Connection,
    *,
    zone: ZoneInfo,
    target: str | None = None,
    settled_only: bool = False,
    limit: int = 50,
) -> Feed:
    """The ``limit`` newest batches (of ``target``, settled ones only when asked)."""
    stmt = select(batch_t).order_by(batch_t.c.id.desc()).limit(max(1, min(limit, 500)))
    if target is not None:
        tid = conn.execute(select(target_t.c.id).where(target_t.c.name == target)).scalar()
        if tid is None:
            raise NotFound(f"no target named {target!r} in the database")
        stmt = stmt.where(batch_t.c.target_id == tid)
    if settled_only:
        stmt = stmt.where(batch_t.c.status == "settled")
    names = target_names(conn)
    entries = [
        _entry(Batch.model_validate(dict(r._mapping)), names, zone) for r in conn.execute(stmt)
    ]
    return Feed(
        updated_at=max((e.updated_at for e in entries), default=None),
        entries=entries,
    )


def _entry(batch: Batch, names: dict[int, str], zone: ZoneInfo) -> FeedEntry:
    assert batch.id is not None
    moments = [batch.last_change_at, batch.settled_at, batch.reviewed_at]
    return FeedEntry(
        id=batch.id,
        target=names[batch.target_id],
        folder=batch.folder,
        files=batch.files,
        bytes=batch.total_bytes,
        status=batch.status,
        review=batch.review,
        reviewed_by=batch.reviewed_by,
        opened_at=batch.opened_at.astimezone(zone),
        settled_at=local(batch.settled_at, zone),
        updated_at=max(m for m in moments if m is not None).astimezone(zone),
    )


def day_rows(diff: DayDiff) -> list[ChangeRow]:
    """The changes of a day diff as flat rows (what its lists hold: build the diff with a
    ``limit`` big enough to export every change)."""
    report = diff.model_dump()
    return [ChangeRow.model_validate(row) for row in diff_rows(report)]


def batch_rows(
    conn: Connection, settings: Settings, batch_id: int, *, zone: ZoneInfo
) -> list[BatchFileExportRow]:
    """Every file of batch ``batch_id`` as flat rows, by path."""
    batch = get_batch(conn, batch_id)
    b = batch_row(batch, target_names(conn)[batch.target_id], zone)
    rows: list[BatchFileExportRow] = []
    offset, page = 0, 5000
    while True:
        files = batch_files(conn, settings, batch, zone=zone, offset=offset, limit=page)
        rows += [
            BatchFileExportRow(
                batch=b.id,
                target=b.target,
                folder=b.folder,
                change=f.change,
                path=f.path,
                size=f.size,
                mtime=f.mtime,
                url=f.url,
                now=f.now,
                sha256=f.archive.sha256,
                mime=f.archive.mime,
            )
            for f in files.items
        ]
        offset += page
        if offset >= files.total:
            return rows


def csv_text(
    rows: Sequence[View],
    model: type[View],
    *,
    zone: ZoneInfo,
    keys: Sequence[str] | None = None,
) -> str:
    """Rows of ``model`` as CSV, as the CLI writes CSV, with a header of its field names (or
    of ``keys``, the columns to write)."""
    keys = list(model.model_fields) if keys is None else list(keys)
    data: list[dict[str, Any]] = [row.model_dump() for row in rows]
    out = io.StringIO()
    write_csv(data, keys, zone=zone, stream=out)
    return out.getvalue()
