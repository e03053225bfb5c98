"""Exports: a day diff and a batch as CSV or JSON downloads.

- ``/api/targets/{name}/days/{day}.json`` is ``monitor diff NAME --day DAY --format json``'s
  object; ``.csv`` its ``--format csv`` rows plus each change's URL. The day page's filters
  apply to both.
- ``/api/batches/{id}.json`` is ``monitor batch ID --format json``'s object (times in the
  configured zone); ``.csv`` one row per file, with the archived body's hash and type.

CSV is written as the CLI writes it: a cell a spreadsheet would run as a formula (it starts
with ``=``, ``+``, ``-``, ``@``, a tab or a CR) starts with a quote, an undecodable byte is
``\\xNN``. Every export is an attachment with a plain file name.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from pydantic import ConfigDict, Field
from sqlalchemy import Connection
from starlette.responses import Response

from monitor.config import Settings
from monitor.store import queries as q
from monitor.views import Entry, View
from monitor.views._common import Moment
from monitor.views.batches import batch_files, batch_row, review_trail
from monitor.views.days import Modified, Moved, SnapshotRef, Summary, day_diff
from monitor.views.feed import BatchFileExportRow, ChangeRow, batch_rows, csv_text, day_rows
from monitor.web.api._base import (
    NOT_FOUND,
    BatchId,
    Day,
    TargetName,
    api_router,
    json_bytes,
    zone_of,
)
from monitor.web.api.reading import DayFilterQuery
from monitor.web.deps import SettingsDep, StoreDep
from monitor.web.files import content_disposition

router = api_router()

#: Every change of a day goes in its export.
ALL = 10**12
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "CSV with a header row.",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    },
    **NOT_FOUND,
}


class DiffExport(View):
    """``monitor diff --format json``: one day's changes of one target."""

    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)

    target: str = Field(description="Target name.")
    from_state: SnapshotRef = Field(alias="from", description="The state the day starts from.")
    to: SnapshotRef = Field(description="The state the day ends at.")
    added: list[Entry] = Field(description="Entries added, by path.")
    removed: list[Entry] = Field(description="Entries removed, by path.")
    modified: list[Modified] = Field(description="Entries modified, by path.")
    moved: list[Moved] = Field(description="Files moved.")
    summary: Summary = Field(description="Counts of the changes.")


class BatchExportFile(View):
    """A file of a batch, as ``monitor batch --format json`` writes it."""

    path: str = Field(description="Relative to the target root, decoded.")
    type: str = Field(description="'file'.")
    size: int | None = Field(description="Bytes.")
    mtime: Moment | None = Field(description="Modification time the server gave.")
    url: str | None = Field(description="Where the file is.")
    change: str = Field(description="added or modified.")
    present: bool = Field(description="True while the file is as the batch holds it.")
    now: str = Field(description="present, changed or gone.")


class BatchExportEvent(View):
    """One review event, as ``monitor batch --format json`` writes it."""

    id: int = Field(description="Event id.")
    batch_id: int = Field(description="Batch id.")
    at: Moment = Field(description="When.")
    actor: str = Field(description="Who.")
    from_status: str = Field(description="Review status before.")
    to_status: str = Field(description="Review status after.")
    note: str | None = Field(description="Why.")


class BatchExport(View):
    """``monitor batch ID --format json``: the batch, its files and its review trail."""

    batch: int = Field(description="Batch id.")
    target: str = Field(description="Target name.")
    folder: str = Field(description="Its folder ('/' for the target root).")
    status: str = Field(description="open or settled.")
    review: str = Field(description="new, reviewed, flagged or dismissed.")
    files: list[BatchExportFile] = Field(description="Its files, by path.")
    bytes: int = Field(description="Bytes of its files.")
    opened: Moment = Field(description="When its first file arrived.")
    last_change: Moment = Field(description="When a file in it last arrived or changed.")
    settled: Moment | None = Field(description="When it settled.")
    reviewed_by: str | None = Field(description="Who last set its review status.")
    note: str | None = Field(description="The latest note.")
    events: list[BatchExportEvent] = Field(description="The review trail, oldest first.")


def _download(body: bytes, media_type: str, name: str) -> Response:
    headers = {"Content-Disposition": content_disposition(name), "Cache-Control": "no-store"}
    return Response(body, media_type=media_type, headers=headers)


@router.get(
    "/targets/{name}/days/{day}.csv",
    response_class=Response,
    responses=CSV_RESPONSE,
    summary="A day's changes as CSV",
)
def day_csv(
    request: Request,
    name: TargetName,
    day: Day,
    store: StoreDep,
    settings: SettingsDep,
    filters: DayFilterQuery,
) -> Response:
    """One row per change (``monitor diff --day --format csv``'s columns, and ``url``)."""
    zone = zone_of(request)
    with store.read() as conn:
        diff = day_diff(
            conn, settings, name, day, zone=zone,
            filters=filters, limit=ALL, tree_limit=0,
        )  # fmt: skip
    text = csv_text(day_rows(diff), ChangeRow, zone=zone)
    return _download(text.encode("utf-8"), "text/csv; charset=utf-8", f"{name}-{day}.csv")


@router.get(
    "/targets/{name}/days/{day}.json",
    response_model=DiffExport,
    responses=NOT_FOUND,
    summary="A day's changes as JSON",
)
def day_json(
    request: Request,
    name: TargetName,
    day: Day,
    store: StoreDep,
    settings: SettingsDep,
    filters: DayFilterQuery,
) -> Response:
    """``monitor diff NAME --day DAY --format json``'s object (filtered when asked)."""
    with store.read() as conn:
        diff = day_diff(
            conn, settings, name, day, zone=zone_of(request),
            filters=filters, limit=ALL, tree_limit=0,
        )  # fmt: skip
    export = DiffExport(
        target=diff.target, from_state=diff.from_state, to=diff.to, added=diff.added,
        removed=diff.removed, modified=diff.modified, moved=diff.moved, summary=diff.summary,
    )  # fmt: skip
    return _download(json_bytes(export), "application/json", f"{name}-{day}.json")


@router.get(
    "/batches/{batch_id}.csv",
    response_class=Response,
    responses=CSV_RESPONSE,
    summary="A batch's files as CSV",
)
def batch_csv(
    request: Request, batch_id: BatchId, store: StoreDep, settings: SettingsDep
) -> Response:
    """One row per file of the batch, by path."""
    zone = zone_of(request)
    with store.read() as conn:
        rows = batch_rows(conn, settings, batch_id, zone=zone)
    text = csv_text(rows, BatchFileExportRow, zone=zone)
    return _download(text.encode("utf-8"), "text/csv; charset=utf-8", f"batch-{batch_id}.csv")


@router.get(
    "/batches/{batch_id}.json",
    response_model=BatchExport,
    responses=NOT_FOUND,
    summary="A batch as JSON",
)
def batch_json(
    request: Request, batch_id: BatchId, store: StoreDep, settings: SettingsDep
) -> Response:
    """``monitor batch ID --format json``'s object."""
    zone = zone_of(request)
    with store.read() as conn:
        export = _batch_export(conn, settings, batch_id, zone)
    return _download(json_bytes(export), "application/json", f"batch-{batch_id}.json")


def _batch_export(
    conn: Connection, settings: Settings, batch_id: int, zone: ZoneInfo
) -> BatchExport:
    batch = q.get_batch(conn, batch_id)
    row = batch_row(batch, q.target_names(conn)[batch.target_id], zone)
    files = batch_files(conn, settings, batch, zone=zone, limit=ALL)
    return BatchExport(
        batch=row.id,
        target=row.target,
        folder=row.folder or "/",
        status=row.status,
        review=row.review,
        files=[
            BatchExportFile(
                path=f.path,
                type=f.type,
                size=f.size,
                mtime=f.mtime,
                url=f.url,
                change=f.change,
                present=f.now == "present",
                now=f.now,
            )
            for f in files.items
        ],
        bytes=row.bytes,
        opened=row.opened_at,
        last_change=row.last_change_at,
        settled=row.settled_at,
        reviewed_by=row.reviewed_by,
        note=row.note,
        events=[
            BatchExportEvent(batch_id=batch_id, **e.model_dump())
            for e in review_trail(conn, batch_id, zone=zone)
        ],
    )
