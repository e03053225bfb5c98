"""Changes per local day, counted exactly as ``monitor diff --day D`` counts them.

Day D runs from the state at the last snapshot started before its first midnight to the state
at the last snapshot started before its second one (any status, as the CLI picks them). Both
ends of every day are looked up once, and each day's changes come from the versions that end
or start between them; a day whose versions only started (a first poll, a quiet day) is
counted by the database without reading the rows.
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from pydantic import Field
from sqlalchemy import Connection, func, or_, select

from monitor.diff import StateDiff, diff_states
from monitor.errors import UsageError
from monitor.store.queries import day_bounds, snapshot_at, version_t, versions_between
from monitor.views._common import View

#: Days one request may count at most.
MAX_DAYS = 400


class DayCounts(View):
    """What changed on one local day (the same diff as ``monitor diff --day``)."""

    day: date = Field(description="The local day, in the zone asked for.")
    from_snapshot: int | None = Field(description="The state the day starts from (None: nothing).")
    to_snapshot: int | None = Field(description="The state the day ends at (None: nothing).")
    added: int = Field(description="Entries added (files and folders), as the diff summary.")
    removed: int = Field(description="Entries removed, as the diff summary.")
    modified: int = Field(description="Entries modified, as the diff summary.")
    moved: int = Field(description="Entries moved, as the diff summary.")
    bytes_added: int = Field(description="Bytes of the files added, as the diff summary.")
    files_added: int = Field(description="Files added.")
    files_removed: int = Field(description="Files removed.")
    files_modified: int = Field(description="Files modified.")
    files_moved: int = Field(description="Files moved.")
    bytes_removed: int = Field(description="Bytes of the files removed (their last size).")
    bytes_modified: int = Field(description="Bytes of the files modified (their new size).")


def day_range(start: date, end: date) -> list[date]:
    """Every day from ``start`` to ``end``, both included."""
    if end < start:
        raise UsageError(f"the range ends ({end}) before it starts ({start})")
    count = (end - start).days + 1
    if count > MAX_DAYS:
        raise UsageError(f"a range may hold {MAX_DAYS} days at most, not {count}")
    return [start + timedelta(days=i) for i in range(count)]


def boundaries(conn: Connection, target_id: int, days: list[date], zone: ZoneInfo) -> list[int]:
    """The snapshot each day starts from, then the one the last day ends at (0: none)."""
    moments = [day_bounds(d, zone)[0] for d in days] + [day_bounds(days[-1], zone)[1]]
    found = []
    for moment in moments:
        snap = snapshot_at(conn, target_id, moment - timedelta(microseconds=1))
        found.append(snap.id if snap is not None and snap.id is not None else 0)
    return found


def day_counts(
    conn: Connection, target_id: int | None, start: date, end: date, zone: ZoneInfo
) -> list[DayCounts]:
    """The changes of each day from ``start`` to ``end`` (``target_id`` None: all zero)."""
    days = day_range(start, end)
    if target_id is None:
        return [_zero(d, 0, 0) for d in days]
    ids = boundaries(conn, target_id, days, zone)
    return [_counts(conn, target_id, d, a, b) for d, a, b in zip(days, ids, ids[1:], strict=False)]


def _zero(day: date, after: int, upto: int) -> DayCounts:
    return DayCounts(
        day=day, from_snapshot=after or None, to_snapshot=upto or None,
        added=0, removed=0, modified=0, moved=0, bytes_added=0,
        files_added=0, files_removed=0, files_modified=0, files_moved=0,
        bytes_removed=0, bytes_modified=0,
    )  # fmt: skip


def _counts(conn: Connection, target_id: int, day: date, after: int, upto: int) -> DayCounts:
    if after == upto:
        return _zero(day, after, upto)
    if not _any_ended(conn, target_id, after, upto):
        return _only_started(conn, target_id, day, after, upto)
    ended, started = versions_between(conn, target_id, after, upto)
    return _of_diff(day, after, upto, diff_states(ended, started))


def _any_ended(conn: Connection, target_id: int, after: int, upto: int) -> bool:
    stmt = (
        select(version_t.c.id)
        .where(
            version_t.c.target_id == target_id,
            version_t.c.gone_snapshot > after,
            version_t.c.gone_snapshot <= upto,
            version_t.c.first_snapshot <= after,
        )
        .limit(1)
    )
    return conn.execute(stmt).first() is not None


def _only_started(conn: Connection, target_id: int, day: date, after: int, upto: int) -> DayCounts:
    """Nothing ended, so nothing pairs: every version that started and stayed is added."""
    stmt = (
        select(version_t.c.type, func.count(), func.coalesce(func.sum(version_t.c.size), 0))
        .where(
            version_t.c.target_id == target_id,
            version_t.c.first_snapshot > after,
            version_t.c.first_snapshot <= upto,
            or_(version_t.c.gone_snapshot.is_(None), version_t.c.gone_snapshot > upto),
        )
        .group_by(version_t.c.type)
    )
    by_type = {str(kind): (int(n), int(size)) for kind, n, size in conn.execute(stmt)}
    files, size = by_type.get("file", (0, 0))
    return _zero(day, after, upto).model_copy(
        update={
            "added": sum(n for n, _ in by_type.values()),
            "files_added": files,
            "bytes_added": size,
        }
    )


def _of_diff(day: date, after: int, upto: int, diff: StateDiff) -> DayCounts:
    added = [v for v in diff.added if v.type == "file"]
    removed = [v for v in diff.removed if v.type == "file"]
    modified = [new for _, new in diff.modified if new.type == "file"]
    return DayCounts(
        day=day,
        from_snapshot=after or None,
        to_snapshot=upto or None,
        added=len(diff.added),
        removed=len(diff.removed),
        modified=len(diff.modified),
        moved=len(diff.moved),
        bytes_added=sum(v.size or 0 for v in added),
        files_added=len(added),
        files_removed=len(removed),
        files_modified=len(modified),
        files_moved=sum(1 for _, new in diff.moved if new.type == "file"),
        bytes_removed=sum(v.size or 0 for v in removed),
        bytes_modified=sum(v.size or 0 for v in modified),
    )
