"""What the archive reads and writes in the database: captures, blobs, ``version.sha256``.

Each write is a short transaction of its own (one try of one version), so a long download
never holds the database's write lock and a crash loses at most the try in flight.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Table, and_, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from monitor.store.models import Blob, Capture
from monitor.store.queries import TABLES, version_t

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

    Oldest version first (the order of ``version.id``: snapshot by snapshot). A version that
    is gone is never fetched again; one whose last try was complete or skipped is done.
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
        .order_by(version_t.c.id)
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


def insert_blob(conn: Connection, blob: Blob) -> None:
    """Record a stored blob (nothing happens when it is known already)."""
    values = blob.model_dump()
    if conn.dialect.name == "postgresql":
        conn.execute(postgresql.insert(blob_t).values(values).on_conflict_do_nothing())
    elif conn.dialect.name == "sqlite":
        conn.execute(sqlite.insert(blob_t).values(values).on_conflict_do_nothing())
    elif (
        conn.execute(select(blob_t.c.sha256).where(blob_t.c.sha256 == blob.sha256)).first() is None
    ):
        conn.execute(insert(blob_t).values(values))


def insert_capture(conn: Connection, capture: Capture) -> int:
    """Record one try; a complete one also sets its version's ``sha256``."""
    values = capture.model_dump(exclude={"id"})
    result = conn.execute(insert(capture_t).values(values))
    if capture.status == "complete" and capture.sha256 is not None:
        conn.execute(
            update(version_t)
            .where(version_t.c.id == capture.version_id)
            .values(sha256=capture.sha256)
        )
    return int(result.inserted_primary_key[0])  # type: ignore[index]
