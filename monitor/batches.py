"""Grouping new and changed files into batches, settling them, and recording reviews.

A batch is the new or modified files of one target under one folder (the first ``batch_depth``
components of their folder; files in the root form the root batch, folder ``""``) that arrive
while the batch is open. It settles once nothing in it changed for ``settle`` and every file it
holds was seen unchanged by a later poll, so nobody is alerted to a half-uploaded folder. A file
arriving in that folder after it settled opens a new batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, func, insert, select, update

from monitor.errors import MonitorError
from monitor.store.models import REVIEW_STATUSES
from monitor.store.queries import batch_file_t, batch_t, get_batch, review_event_t, version_t


@dataclass(frozen=True, slots=True)
class Arrival:
    """A file that a snapshot added or modified, with the version that now holds it."""

    path: str
    version_id: int
    change: str  # "added" or "modified"


def batch_folder(path: str, depth: int) -> str:
    """The folder that groups ``path``: its first ``depth`` folder components."""
    folders = path.split("/")[:-1]
    return "/".join(folders[:depth])


def record_arrivals(
    conn: Connection,
    *,
    target_id: int,
    snapshot_id: int,
    arrivals: Iterable[Arrival],
    depth: int,
    now: datetime,
) -> list[int]:
    """Add arrivals to the open batch of their folder (opening one if needed); return its ids."""
    by_folder: dict[str, list[Arrival]] = defaultdict(list)
    for arrival in arrivals:
        by_folder[batch_folder(arrival.path, depth)].append(arrival)
    touched: list[int] = []
    for folder, files in sorted(by_folder.items()):
        batch_id = _open_batch(conn, target_id, folder, snapshot_id, now)
        known = set(
            conn.execute(
                select(batch_file_t.c.path).where(batch_file_t.c.batch_id == batch_id)
            ).scalars()
        )
        fresh = [a for a in files if a.path not in known]
        again = [a for a in files if a.path in known]
        if fresh:
            conn.execute(
                insert(batch_file_t),
                [
                    {
                        "batch_id": batch_id,
                        "path": a.path,
                        "version_id": a.version_id,
                        "change": a.change,
                    }
                    for a in fresh
                ],
            )
        for a in again:
            conn.execute(
                update(batch_file_t)
                .where(batch_file_t.c.batch_id == batch_id, batch_file_t.c.path == a.path)
                .values(version_id=a.version_id)
            )
        _refresh_totals(conn, batch_id, snapshot_id, now)
        touched.append(batch_id)
    return touched


def _open_batch(
    conn: Connection, target_id: int, folder: str, snapshot_id: int, now: datetime
) -> int:
    found = conn.execute(
        select(batch_t.c.id).where(
            batch_t.c.target_id == target_id,
            batch_t.c.folder == folder,
            batch_t.c.status == "open",
        )
    ).scalar()
    if found is not None:
        return int(found)
    result = conn.execute(
        insert(batch_t).values(
            target_id=target_id,
            folder=folder,
            status="open",
            review="new",
            first_snapshot=snapshot_id,
            last_snapshot=snapshot_id,
            opened_at=now,
            last_change_at=now,
            files=0,
            total_bytes=0,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def _refresh_totals(conn: Connection, batch_id: int, snapshot_id: int, now: datetime) -> None:
    files, total = conn.execute(
        select(func.count(), func.coalesce(func.sum(version_t.c.size), 0))
        .select_from(batch_file_t)
        .join(version_t, version_t.c.id == batch_file_t.c.version_id)
        .where(batch_file_t.c.batch_id == batch_id)
    ).one()
    conn.execute(
        update(batch_t)
        .where(batch_t.c.id == batch_id)
        .values(files=files, total_bytes=total, last_snapshot=snapshot_id, last_change_at=now)
    )


def follow_moves(conn: Connection, moves: Iterable[tuple[int, str, int]]) -> None:
    """Point batch files at the new path and version of files that moved (old version id,
    new path, new version id): an upload renamed from its temporary name is named as it is."""
    rows = [{"old": old, "path": path, "new": new} for old, path, new in moves]
    if rows:
        conn.execute(
            update(batch_file_t)
            .where(batch_file_t.c.version_id == bindparam("old"))
            .values(path=bindparam("path"), version_id=bindparam("new")),
            rows,
        )


def settle_batches(
    conn: Connection,
    *,
    target_id: int,
    snapshot_id: int,
    settle: timedelta,
    now: datetime,
    failed: list[str] | None = None,
) -> list[int]:
    """Settle the open batches that have been quiet for ``settle`` and whose every file was
    seen unchanged by a poll after the one that brought it; return their ids.

    A file under a folder that this poll failed to list was not seen at all (its old entry
    was only carried forward), so its batch stays open.
    """
    quiet = (
        conn.execute(
            select(batch_t.c.id).where(
                batch_t.c.target_id == target_id,
                batch_t.c.status == "open",
                batch_t.c.last_change_at <= now - settle,
            )
        )
        .scalars()
        .all()
    )
    settled = [
        int(b)
        for b in quiet
        if _stable(conn, int(b), snapshot_id) and not _unseen(conn, int(b), failed or [])
    ]
    if settled:
        conn.execute(
            update(batch_t)
            .where(batch_t.c.id.in_(settled))
            .values(status="settled", settled_at=now)
        )
    return settled


def _stable(conn: Connection, batch_id: int, snapshot_id: int) -> bool:
    """No file of the batch is in a version first seen by this very snapshot."""
    fresh = conn.execute(
        select(func.count())
        .select_from(batch_file_t)
        .join(version_t, version_t.c.id == batch_file_t.c.version_id)
        .where(
            batch_file_t.c.batch_id == batch_id,
            version_t.c.gone_snapshot.is_(None),
            version_t.c.first_snapshot >= snapshot_id,
        )
    ).scalar_one()
    return int(fresh) == 0


def _unseen(conn: Connection, batch_id: int, failed: list[str]) -> bool:
    """True when a file of the batch lies under a folder that failed to list."""
    if not failed:
        return False
    paths = conn.execute(
        select(batch_file_t.c.path).where(batch_file_t.c.batch_id == batch_id)
    ).scalars()
    return any(f == "" or p.startswith(f + "/") for p in paths for f in failed)


def review_batch(
    conn: Connection,
    *,
    batch_id: int,
    status: str,
    actor: str,
    now: datetime,
    note: str | None = None,
) -> None:
    """Set a batch's review status (and note) and record the change in the audit trail."""
    if status not in REVIEW_STATUSES:
        raise MonitorError(
            f"unknown review status {status!r}; use one of {', '.join(REVIEW_STATUSES)}"
        )
    batch = get_batch(conn, batch_id)
    conn.execute(
        insert(review_event_t).values(
            batch_id=batch_id,
            at=now,
            actor=actor,
            from_status=batch.review,
            to_status=status,
            note=note,
        )
    )
    values: dict[str, object] = {"review": status, "reviewed_by": actor, "reviewed_at": now}
    if note is not None:
        values["note"] = note
    conn.execute(update(batch_t).where(batch_t.c.id == batch_id).values(**values))
