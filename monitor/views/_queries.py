"""Queries only the views need, over the store's tables (see :mod:`monitor.store.queries`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Select, func, select

from monitor.store.models import Snapshot
from monitor.store.queries import batch_file_t, batch_t, snapshot_t, version_t

#: Snapshot columns without the held listing (a compressed listing can be megabytes).
SNAPSHOT_COLUMNS = [c for c in snapshot_t.c if c.name != "held_listing"]


def aware(moment: datetime | None) -> datetime | None:
    """Aggregates (max, min) skip the column type's conversion on SQLite: naive means UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def snapshot_of(row: Any) -> Snapshot:
    return Snapshot.model_validate(dict(row._mapping))


def failure_streak(conn: Connection, target_id: int) -> tuple[int, datetime | None]:
    """How many of the latest snapshots failed in a row, and when the first of them started."""
    last_good = conn.execute(
        select(func.max(snapshot_t.c.id)).where(
            snapshot_t.c.target_id == target_id, snapshot_t.c.status != "failed"
        )
    ).scalar_one()
    count, since = conn.execute(
        select(func.count(), func.min(snapshot_t.c.started_at)).where(
            snapshot_t.c.target_id == target_id, snapshot_t.c.id > (last_good or 0)
        )
    ).one()
    return int(count), aware(since)


def quiet_since(conn: Connection, target_id: int) -> tuple[datetime | None, datetime | None]:
    """The last arrival (a batch's last change) and when the current quiet spell started:
    that arrival or, when nothing ever arrived, the first applied snapshot (as the stale alert
    counts it)."""
    last = aware(
        conn.execute(
            select(func.max(batch_t.c.last_change_at)).where(batch_t.c.target_id == target_id)
        ).scalar_one()
    )
    if last is not None:
        return last, last
    first = conn.execute(
        select(func.min(snapshot_t.c.started_at)).where(
            snapshot_t.c.target_id == target_id, snapshot_t.c.applied.is_(True)
        )
    ).scalar_one()
    return None, aware(first)


def latest_snapshots(conn: Connection, target_id: int) -> tuple[Snapshot | None, Snapshot | None]:
    """The latest snapshot, and the latest one whose listing was applied."""
    base = select(*SNAPSHOT_COLUMNS).where(snapshot_t.c.target_id == target_id)
    last = conn.execute(base.order_by(snapshot_t.c.id.desc()).limit(1)).first()
    applied = conn.execute(
        base.where(snapshot_t.c.applied.is_(True), snapshot_t.c.status != "failed")
        .order_by(snapshot_t.c.id.desc())
        .limit(1)
    ).first()
    return (
        None if last is None else snapshot_of(last),
        None if applied is None else snapshot_of(applied),
    )


def is_held(conn: Connection, snapshot_id: int) -> bool:
    """Whether a suspect snapshot's listing is still held, awaiting a decision."""
    stmt = select(snapshot_t.c.id).where(
        snapshot_t.c.id == snapshot_id, snapshot_t.c.held_listing.is_not(None)
    )
    return conn.execute(stmt).first() is not None


def pending_batches(conn: Connection) -> dict[int, dict[str, int]]:
    """Batches still to review (review ``new``), per target, then per status (open, settled)."""
    stmt = (
        select(batch_t.c.target_id, batch_t.c.status, func.count())
        .where(batch_t.c.review == "new")
        .group_by(batch_t.c.target_id, batch_t.c.status)
    )
    found: dict[int, dict[str, int]] = defaultdict(dict)
    for tid, status, count in conn.execute(stmt):
        found[int(tid)][str(status)] = int(count)
    return found


def snapshot_page(
    conn: Connection, target_id: int, *, offset: int, limit: int
) -> tuple[list[Snapshot], int]:
    """A page of a target's snapshots, newest first, and how many it has."""
    total = conn.execute(
        select(func.count()).select_from(snapshot_t).where(snapshot_t.c.target_id == target_id)
    ).scalar_one()
    stmt = (
        select(*SNAPSHOT_COLUMNS)
        .where(snapshot_t.c.target_id == target_id)
        .order_by(snapshot_t.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return [snapshot_of(r) for r in conn.execute(stmt)], int(total)


def snapshot_times(conn: Connection, ids: Iterable[int]) -> dict[int, datetime]:
    """When each of the snapshots ``ids`` started."""
    wanted = sorted(set(ids))
    found: dict[int, datetime] = {}
    for start in range(0, len(wanted), 500):
        stmt = select(snapshot_t.c.id, snapshot_t.c.started_at).where(
            snapshot_t.c.id.in_(wanted[start : start + 500])
        )
        found.update({int(i): at for i, at in conn.execute(stmt)})
    return found


def count_of(conn: Connection, stmt: Select[Any]) -> int:
    """The number of rows ``stmt`` yields."""
    sub = stmt.order_by(None).subquery()
    return int(conn.execute(select(func.count()).select_from(sub)).scalar_one())


def batch_files_of_versions(
    conn: Connection, version_ids: Iterable[int]
) -> list[tuple[int, int, str]]:
    """(version id, batch id, change) of the batch files pointing at ``version_ids``."""
    wanted = sorted(set(version_ids))
    found: list[tuple[int, int, str]] = []
    for start in range(0, len(wanted), 500):
        stmt = select(
            batch_file_t.c.version_id, batch_file_t.c.batch_id, batch_file_t.c.change
        ).where(batch_file_t.c.version_id.in_(wanted[start : start + 500]))
        found += [(int(v), int(b), str(c)) for v, b, c in conn.execute(stmt)]
    return found


def last_seen(conn: Connection, target_id: int, before: int | None) -> Snapshot | None:
    """The last applied snapshot with a listing before snapshot ``before`` (None: the latest)."""
    stmt = select(*SNAPSHOT_COLUMNS).where(
        snapshot_t.c.target_id == target_id,
        snapshot_t.c.applied.is_(True),
        snapshot_t.c.status != "failed",
    )
    if before is not None:
        stmt = stmt.where(snapshot_t.c.id < before)
    row = conn.execute(stmt.order_by(snapshot_t.c.id.desc()).limit(1)).first()
    return None if row is None else snapshot_of(row)


def version_count(conn: Connection, target_id: int) -> int:
    stmt = select(func.count()).select_from(version_t).where(version_t.c.target_id == target_id)
    return int(conn.execute(stmt).scalar_one())
