"""Batches and reviews: ``batches``, ``batch`` and ``review``."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from monitor.batches import review_batch
from monitor.cli.base import FormatOpt, app, app_of
from monitor.output import Column, Format, emit, to_json
from monitor.poll import utc_now
from monitor.report import entry, mtime_of
from monitor.sources import make_source
from monitor.store import queries as q
from monitor.store.models import BATCH_STATUSES, REVIEW_STATUSES, Batch
from monitor.store.queries import StoredVersion

BatchStatus = StrEnum("BatchStatus", {s: s for s in BATCH_STATUSES})  # type: ignore[misc]
ReviewStatus = StrEnum("ReviewStatus", {s: s for s in REVIEW_STATUSES})  # type: ignore[misc]


def _batch_row(b: Batch, names: dict[int, str]) -> dict[str, Any]:
    return {
        "batch": b.id,
        "target": names.get(b.target_id, "?"),
        "folder": b.folder or "/",
        "status": b.status,
        "review": b.review,
        "files": b.files,
        "bytes": b.total_bytes,
        "opened": b.opened_at,
        "last_change": b.last_change_at,
        "settled": b.settled_at,
        "reviewed_by": b.reviewed_by,
        "note": b.note,
    }


BATCH_COLUMNS = [
    Column("batch", "batch", "int"),
    Column("target", "target"),
    Column("folder", "folder", "name"),
    Column("status", "status"),
    Column("review", "review"),
    Column("files", "files", "int"),
    Column("bytes", "size", "size"),
    Column("opened", "opened", "time"),
    Column("last_change", "last change", "time"),
    Column("reviewed_by", "by"),
]

BATCH_FILE_COLUMNS = [
    Column("change", "change"),
    Column("path", "path", "name"),
    Column("size", "size", "size"),
    Column("mtime", "modified", "time"),
    Column("now", "now"),
]

REVIEW_EVENT_COLUMNS = [
    Column("at", "at", "time"),
    Column("actor", "by", "name"),
    Column("from_status", "from"),
    Column("to_status", "to"),
    Column("note", "note", "name"),
]


@app.command()
def batches(
    ctx: typer.Context,
    target: Annotated[str | None, typer.Option(help="Only this target.")] = None,
    status: Annotated[BatchStatus | None, typer.Option(help="Only open or settled ones.")] = None,
    review: Annotated[ReviewStatus | None, typer.Option(help="Only this review status.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 100,
    fmt: FormatOpt = Format.table,
) -> None:
    """List batches of new files, newest first.

    Example: monitor batches --review new
    """
    obj = app_of(ctx)
    with obj.read() as conn:
        tid = q.target_id(conn, target) if target else None
        found = q.list_batches(conn, target=tid, status=status, review=review, limit=limit)
        names = q.target_names(conn)
    emit([_batch_row(b, names) for b in found], BATCH_COLUMNS, fmt, zone=obj.zone)


@app.command()
def batch(
    ctx: typer.Context,
    batch_id: Annotated[int, typer.Argument(metavar="ID", help="Batch ID.")],
    fmt: FormatOpt = Format.table,
) -> None:
    """Show one batch: its files and its review trail.

    Example: monitor batch 7
    """
    obj = app_of(ctx)
    with obj.read() as conn:
        b = q.get_batch(conn, batch_id)
        names = q.target_names(conn)
        files = q.batch_files(conn, batch_id)
        events = q.review_events(conn, batch_id)
        still_there = q.open_paths(conn, b.target_id, (bf.path for bf, _ in files))
    url_for = make_source(obj.settings.target(names[b.target_id])).url_for
    file_rows = [
        {
            **entry(v, url_for, obj.zone),
            "mtime": mtime_of(v),
            "change": bf.change,
            "present": v.gone_snapshot is None,
            "now": _now(v, still_there),
        }
        for bf, v in files
    ]
    event_rows = [e.model_dump() for e in events]
    if fmt is Format.json:
        typer.echo(to_json(_batch_json(_batch_row(b, names), file_rows, event_rows, obj.zone)))
        return
    _emit_batch(batch_id, _batch_row(b, names), file_rows, event_rows, fmt, obj.zone)


def _now(version: StoredVersion, still_there: set[str]) -> str:
    """What became of a batch file: still as it arrived, changed since, or gone."""
    if version.gone_snapshot is None:
        return "present"
    return "changed" if version.path in still_there else "gone"


def _batch_json(
    row: dict[str, Any],
    file_rows: list[dict[str, Any]],
    event_rows: list[dict[str, Any]],
    zone: ZoneInfo,
) -> dict[str, Any]:
    """The batch, its files and its review trail as one JSON object."""
    return {
        **row,
        "files": [
            {**r, "mtime": r["mtime"].isoformat() if r["mtime"] else None} for r in file_rows
        ],
        "events": [{**e, "at": e["at"].astimezone(zone).isoformat()} for e in event_rows],
    }


def _emit_batch(
    batch_id: int,
    row: dict[str, Any],
    file_rows: list[dict[str, Any]],
    event_rows: list[dict[str, Any]],
    fmt: Format,
    zone: ZoneInfo,
) -> None:
    """The batch, its files and (in a table) its review trail, one listing after another."""
    emit([row], BATCH_COLUMNS, fmt, zone=zone, title=f"batch {batch_id}")
    emit(file_rows, BATCH_FILE_COLUMNS, fmt, zone=zone, title="files")
    if fmt is Format.table and event_rows:
        emit(event_rows, REVIEW_EVENT_COLUMNS, fmt, zone=zone, title="review")


@app.command()
def review(
    ctx: typer.Context,
    batch_id: Annotated[int, typer.Argument(metavar="ID", help="Batch ID.")],
    status: Annotated[ReviewStatus, typer.Option(help="The new review status.")],
    note: Annotated[str | None, typer.Option(help="Why.")] = None,
    by: Annotated[str | None, typer.Option(help="Reviewer (default: config or login).")] = None,
) -> None:
    """Set a batch's review status, with a note; every change is kept.

    Example: monitor review 7 --status flagged --note "credentials in config.ini"
    """
    obj = app_of(ctx)
    with obj.store().write() as conn:
        review_batch(
            conn, batch_id=batch_id, status=status, actor=obj.reviewer(by), now=utc_now(), note=note
        )
    typer.echo(f"batch {batch_id}: {status}")
