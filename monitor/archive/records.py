"""What the archive reads and writes in the database: captures, blobs, ``version.sha256``.

Writes are short transactions of their own (a few tries at most, see
:mod:`~monitor.archive.run`), so a long download never holds the database's write lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, func, or_, select, update

from monitor.store import Store
from monitor.store.queries import TABLES, insert_rows, version_t

capture_t: Table = TABLES["capture"]
blob_t: Table = TABLES["blob"]

#: Captures that end the archive's work on a version.
DONE = ("complete", "skipped")
#: Captures of a try that may be made again (at ``next_attempt_at``).
RETRIED = ("failed", "changed")


@dataclass(frozen=True, slots=True)
class Pending:
    """An open file version the archive has not finished with."""

    version_id: int
    path: str
    size: int | None
    mtime_ns: int | None
    first_snapshot: int
    #: Tries made so far (0: never tried).
    attempts: int


def pending_versions(conn: Connection, target_id: int, now: datetime) -> list[Pending]:
    """Open file versions of the target never tried, or whose last try is due again.

    Oldest version first (snapshot by snapshot), by path within a snapshot (the order of
    ``version.id`` within one is the store's). A version that is gone is never fetched
    again; one whose last try was complete or skipped is done.
    """
    latest = (
        select(capture_t.c.version_id, func.max(capture_t.c.id).label("capture_id"))
        .where(capture_t.c.target_id == target_id)
        .group_by(capture_t.c.version_id)
        .subquery()
    )
    joined = version_t.outerjoin(latest, latest.c.version_id == version_t.c.id).outerjoin(
        capture_t, capture_t.c.id == latest.c.capture_id
    )
    due = and_(capture_t.c.status.in_(RETRIED), capture_t.c.next_attempt_at <= now)
    stmt = (
        select(
            version_t.c.id,
            version_t.c.path,
            version_t.c.size,
            version_t.c.mtime_ns,
            version_t.c.first_snapshot,
            func.coalesce(capture_t.c.attempts, 0),
        )
        .select_from(joined)
        .where(
            version_t.c.target_id == target_id,
            version_t.c.gone_snapshot.is_(None),
            version_t.c.type == "file",
            or_(capture_t.c.id.is_(None), due),
        )
        .order_by(version_t.c.first_snapshot, version_t.c.path, version_t.c.id)
    )
    return [Pending(*row) for row in conn.execute(stmt)]


def archived_bytes(conn: Connection, target_id: int) -> int:
    """Bytes the target's archived versions hold (each distinct body once): its quota use."""
    hashes = (
        select(capture_t.c.sha256)
        .where(capture_t.c.target_id == target_id, capture_t.c.status == "complete")
        .distinct()
        .subquery()
    )
    stmt = select(func.coalesce(func.sum(blob_t.c.size), 0)).where(
        blob_t.c.sha256.in_(select(hashes.c.sha256))
    )
    return int(conn.execute(stmt).scalar_one())


#: A capture row to insert, and the blob row it names (complete tries only).
Record = tuple[dict[str, Any], dict[str, Any] | None]


def write_records(store: Store, records: list[Record]) -> None:
    """Insert captures (with their blobs, and ``version.sha256`` of the complete ones) in one
    short transaction; a blob known already is left as it is."""
    with store.write() as conn:
        insert_rows(conn, blob_t, [blob for _, blob in records if blob is not None], ignore=True)
        insert_rows(conn, capture_t, [capture for capture, _ in records])
        complete = [
            {"vid": capture["version_id"], "sha": capture["sha256"]}
            for capture, _ in records
            if capture["status"] == "complete"
        ]
        if complete:
            conn.execute(
                update(version_t)
                .where(version_t.c.id == bindparam("vid"))
                .values(sha256=bindparam("sha")),
                complete,
            )
