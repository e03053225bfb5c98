"""Batches: the list, one batch with its files and review trail, the review queue, and the
review actions.

The review actions write: call them inside ``Store.write()``. Each status change or note is a
``review_event`` row (who, when, from, to, note), so a second reviewer sees who reviewed a
batch and why. Bulk review changes several batches in the caller's one transaction, one
event per batch; a missing batch or an unknown status changes none.

The review queue is the batches still to review (``new``) in the order of the list, newest
first: ``next`` is the one below the current batch, ``previous`` the one above.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field
from sqlalchemy import Connection, Select, insert, select, update

from monitor.batches import review_batch
from monitor.config import Settings
from monitor.errors import NotFound, UsageError
from monitor.report import mtime_of
from monitor.store import archive_queries as aq
from monitor.store import queries as q
from monitor.store.models import BATCH_STATUSES, REVIEW_STATUSES, Batch
from monitor.store.queries import (
    VERSION_COLUMNS,
    StoredVersion,
    batch_file_t,
    batch_t,
    review_event_t,
    target_t,
    version_t,
)
from monitor.views._common import (
    ArchivedBody,
    Moment,
    Page,
    View,
    archived_body,
    check_paging,
    local,
    resolve_target,
)
from monitor.views._queries import count_of


class BatchRow(View):
    """One batch: new or changed files of one target that arrived together in one folder."""

    id: int = Field(description="Batch id.")
    target: str = Field(description="Target name.")
    folder: str = Field(description="The folder grouping its files ('' for the target root).")
    status: str = Field(description="open (still growing) or settled (complete and quiet).")
    review: str = Field(description="new, reviewed, flagged or dismissed.")
    files: int = Field(description="Files in the batch.")
    bytes: int = Field(description="Bytes of those files.")
    opened_at: Moment = Field(description="When its first file arrived.")
    last_change_at: Moment = Field(description="When a file in it last arrived or changed.")
    settled_at: Moment | None = Field(description="When it settled (None: still open).")
    first_snapshot: int = Field(description="The snapshot that opened it.")
    last_snapshot: int = Field(description="The last snapshot that added to it.")
    reviewed_by: str | None = Field(description="Who last set its review status.")
    reviewed_at: Moment | None = Field(description="When.")
    note: str | None = Field(description="The latest note.")


class BatchFileRow(View):
    """A file of a batch, in the state the batch holds."""

    path: str = Field(description="Relative to the target root, decoded.")
    type: str = Field(description="'file' (folders are not batched).")
    size: int | None = Field(description="Bytes.")
    mtime: Moment | None = Field(description="Modification time the server gave.")
    change: str = Field(description="added or modified.")
    url: str | None = Field(description="Where the file is (None: target not configured).")
    now: str = Field(description="present (as it arrived), changed since, or gone.")
    version_id: int = Field(description="The version the batch holds.")
    archive: ArchivedBody = Field(description="What the archive holds of this version.")


class ReviewEventRow(View):
    """One change of a batch's review status or note."""

    id: int = Field(description="Event id (events are in this order).")
    at: Moment = Field(description="When.")
    actor: str = Field(description="Who.")
    from_status: str = Field(description="Review status before.")
    to_status: str = Field(description="Review status after (the same for a note alone).")
    note: str | None = Field(description="Why.")


class ReviewQueue(View):
    """Where a batch sits among the batches still to review."""

    previous: int | None = Field(description="The batch to review above this one in the list.")
    next: int | None = Field(description="The batch to review below this one in the list.")
    pending: int = Field(description="Batches still to review.")


class BatchDetail(View):
    """One batch's page."""

    batch: BatchRow
    files: Page[BatchFileRow] = Field(description="Its files, by path.")
    events: list[ReviewEventRow] = Field(description="The review trail, oldest first.")
    queue: ReviewQueue


def _check(value: str | None, allowed: tuple[str, ...], what: str) -> None:
    if value is not None and value not in allowed:
        raise UsageError(f"unknown {what} {value!r}; use one of {', '.join(allowed)}")


def batch_row(batch: Batch, target: str, zone: ZoneInfo) -> BatchRow:
    assert batch.id is not None
    return BatchRow(
        id=batch.id,
        target=target,
        folder=batch.folder,
        status=batch.status,
        review=batch.review,
        files=batch.files,
        bytes=batch.total_bytes,
        opened_at=batch.opened_at.astimezone(zone),
        last_change_at=batch.last_change_at.astimezone(zone),
        settled_at=local(batch.settled_at, zone),
        first_snapshot=batch.first_snapshot,
        last_snapshot=batch.last_snapshot,
        reviewed_by=batch.reviewed_by,
        reviewed_at=local(batch.reviewed_at, zone),
        note=batch.note,
    )


def _filtered(
    conn: Connection,
    *,
    target: str | None,
    review: str | None,
    status: str | None,
    start: date | None = None,
    end: date | None = None,
    zone: ZoneInfo | None = None,
) -> Select[Any]:
    _check(review, REVIEW_STATUSES, "review status")
    _check(status, BATCH_STATUSES, "batch status")
    stmt = select(batch_t)
    if target is not None:
        tid = conn.execute(select(target_t.c.id).where(target_t.c.name == target)).scalar()
        if tid is None:
            raise NotFound(f"no target named {target!r} in the database")
        stmt = stmt.where(batch_t.c.target_id == tid)
    if review is not None:
        stmt = stmt.where(batch_t.c.review == review)
    if status is not None:
        stmt = stmt.where(batch_t.c.status == status)
    if start is not None and zone is not None:
        stmt = stmt.where(batch_t.c.opened_at >= q.day_bounds(start, zone)[0])
    if end is not None and zone is not None:
        stmt = stmt.where(batch_t.c.opened_at < q.day_bounds(end, zone)[1])
    return stmt


def batch_list(
    conn: Connection,
    *,
    zone: ZoneInfo,
    target: str | None = None,
    review: str | None = None,
    status: str | None = None,
    start: date | None = None,
    end: date | None = None,
    offset: int = 0,
    limit: int = 50,
) -> Page[BatchRow]:
    """Batches, newest first: of one target, one review status (``new``...), one status
    (``open`` / ``settled``), opened from local day ``start`` to ``end`` (both included)."""
    check_paging(offset, limit)
    stmt = _filtered(
        conn, target=target, review=review, status=status, start=start, end=end, zone=zone
    )
    total = count_of(conn, stmt)
    rows = conn.execute(stmt.order_by(batch_t.c.id.desc()).offset(offset).limit(limit))
    names = q.target_names(conn)
    items = [
        batch_row(b, names[b.target_id], zone)
        for b in (Batch.model_validate(dict(r._mapping)) for r in rows)
    ]
    return Page[BatchRow](items=items, total=total, offset=offset, limit=limit)


def batch_detail(
    conn: Connection,
    settings: Settings,
    batch_id: int,
    *,
    zone: ZoneInfo,
    offset: int = 0,
    limit: int = 500,
    queue_target: str | None = None,
) -> BatchDetail:
    """Batch ``batch_id``: a page of its files (by path), its review trail, and its place in
    the review queue (of ``queue_target`` only, when given)."""
    check_paging(offset, limit, most=10_000)
    batch = q.get_batch(conn, batch_id)
    name = q.target_names(conn)[batch.target_id]
    files = batch_files(conn, settings, batch, zone=zone, offset=offset, limit=limit)
    return BatchDetail(
        batch=batch_row(batch, name, zone),
        files=files,
        events=review_trail(conn, batch_id, zone=zone),
        queue=review_queue(conn, batch_id, target=queue_target),
    )


def batch_files(
    conn: Connection,
    settings: Settings,
    batch: Batch,
    *,
    zone: ZoneInfo,
    offset: int = 0,
    limit: int = 500,
    version_id: int | None = None,
) -> Page[BatchFileRow]:
    """A page of a batch's files, by path, with what the archive holds of each (only the
    file holding version ``version_id``, when given)."""
    target = resolve_target(conn, settings, q.target_names(conn)[batch.target_id])
    stmt = (
        select(batch_file_t.c.change, *VERSION_COLUMNS)
        .join(version_t, version_t.c.id == batch_file_t.c.version_id)
        .where(batch_file_t.c.batch_id == batch.id)
        .order_by(batch_file_t.c.path, batch_file_t.c.id)
    )
    if version_id is not None:
        stmt = stmt.where(batch_file_t.c.version_id == version_id)
    rows = [
        (str(r[0]), StoredVersion(*r[1:])) for r in conn.execute(stmt.offset(offset).limit(limit))
    ]
    versions = [v for _, v in rows]
    still_there = q.open_paths(conn, batch.target_id, (v.path for v in versions))
    captures = aq.captures_of_versions(conn, [v.id for v in versions])
    blobs = aq.blobs_by_hash(conn, {c.sha256 for cs in captures.values() for c in cs if c.sha256})
    items = [
        BatchFileRow(
            path=v.path,
            type=v.type,
            size=v.size,
            mtime=local(mtime_of(v), zone),
            change=change,
            url=target.url(v.path),
            now="present"
            if v.gone_snapshot is None
            else "changed"
            if v.path in still_there
            else "gone",
            version_id=v.id,
            archive=archived_body(captures.get(v.id, []), blobs, zone),
        )
        for change, v in rows
    ]
    return Page[BatchFileRow](items=items, total=count_of(conn, stmt), offset=offset, limit=limit)


def batch_file(
    conn: Connection, settings: Settings, batch_id: int, version_id: int, *, zone: ZoneInfo
) -> BatchFileRow:
    """The file of batch ``batch_id`` that holds version ``version_id``; NotFound if none."""
    batch = q.get_batch(conn, batch_id)
    found = batch_files(conn, settings, batch, zone=zone, limit=1, version_id=version_id)
    if not found.items:
        raise NotFound(f"batch {batch_id} holds no file of version {version_id}")
    return found.items[0]


def review_trail(conn: Connection, batch_id: int, *, zone: ZoneInfo) -> list[ReviewEventRow]:
    """Every review event of a batch, oldest first."""
    return [
        ReviewEventRow(
            id=e.id or 0,
            at=e.at.astimezone(zone),
            actor=e.actor,
            from_status=e.from_status,
            to_status=e.to_status,
            note=e.note,
        )
        for e in q.review_events(conn, batch_id)
    ]


def review_queue(
    conn: Connection, batch_id: int, *, target: str | None = None, status: str | None = None
) -> ReviewQueue:
    """The batches still to review just above and below ``batch_id`` in the list (newest
    first), of one target and one status (``open`` / ``settled``) when given."""
    todo = _filtered(conn, target=target, review="new", status=status)
    ids = todo.with_only_columns(batch_t.c.id)
    above = conn.execute(
        ids.where(batch_t.c.id > batch_id).order_by(batch_t.c.id).limit(1)
    ).scalar()
    below = conn.execute(
        ids.where(batch_t.c.id < batch_id).order_by(batch_t.c.id.desc()).limit(1)
    ).scalar()
    return ReviewQueue(
        previous=None if above is None else int(above),
        next=None if below is None else int(below),
        pending=count_of(conn, ids),
    )


def review(
    conn: Connection,
    batch_id: int,
    *,
    status: str,
    actor: str,
    now: datetime,
    zone: ZoneInfo,
    note: str | None = None,
) -> BatchRow:
    """Set one batch's review status (and note); returns the batch as it is now."""
    (row,) = review_many(
        conn, [batch_id], status=status, actor=actor, now=now, zone=zone, note=note
    )
    return row


def review_many(
    conn: Connection,
    batch_ids: list[int],
    *,
    status: str,
    actor: str,
    now: datetime,
    zone: ZoneInfo,
    note: str | None = None,
) -> list[BatchRow]:
    """Set the review status of several batches with one note, one event each, in the
    caller's transaction; a batch named twice counts once. Returns them in the order given."""
    _check(status, REVIEW_STATUSES, "review status")
    wanted = list(dict.fromkeys(batch_ids))
    if not wanted:
        raise UsageError("name at least one batch to review")
    for batch_id in wanted:
        q.get_batch(conn, batch_id)  # NotFound before anything is written
    for batch_id in wanted:
        review_batch(conn, batch_id=batch_id, status=status, actor=actor, now=now, note=note)
    return _rows(conn, wanted, zone)


def add_note(
    conn: Connection, batch_id: int, *, note: str, actor: str, now: datetime, zone: ZoneInfo
) -> BatchRow:
    """Add a note to a batch without changing its review status (an event from and to the
    status it has); the batch's note becomes this one."""
    if not note.strip():
        raise UsageError("a note needs some text")
    batch = q.get_batch(conn, batch_id)
    conn.execute(
        insert(review_event_t).values(
            batch_id=batch_id,
            at=now,
            actor=actor,
            from_status=batch.review,
            to_status=batch.review,
            note=note,
        )
    )
    conn.execute(update(batch_t).where(batch_t.c.id == batch_id).values(note=note))
    return _rows(conn, [batch_id], zone)[0]


def _rows(conn: Connection, batch_ids: list[int], zone: ZoneInfo) -> list[BatchRow]:
    names = q.target_names(conn)
    found = []
    for batch_id in batch_ids:
        batch = q.get_batch(conn, batch_id)
        found.append(batch_row(batch, names[batch.target_id], zone))
    return found
