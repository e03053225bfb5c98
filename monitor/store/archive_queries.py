"""The query layer's part for the archive: blobs and captures, for export, ``history
--content`` and gc (see :mod:`monitor.store.queries` for the rest)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, or_, select, update

from monitor.store.models import Blob, Capture
from monitor.store.queries import blob_t, capture_t, snapshot_t, version_t


def blobs_by_hash(conn: Connection, hashes: Iterable[str]) -> dict[str, Blob]:
    """The blob rows of ``hashes`` that exist, by SHA-256."""
    wanted = sorted(set(hashes))
    found: dict[str, Blob] = {}
    for start in range(0, len(wanted), 500):
        stmt = select(blob_t).where(blob_t.c.sha256.in_(wanted[start : start + 500]))
        for row in conn.execute(stmt):
            blob = Blob.model_validate(dict(row._mapping))
            found[blob.sha256] = blob
    return found


def captures_of_versions(conn: Connection, version_ids: Iterable[int]) -> dict[int, list[Capture]]:
    """Every capture of each of ``version_ids``, newest first, by version id."""
    wanted = sorted(set(version_ids))
    found: dict[int, list[Capture]] = {}
    for start in range(0, len(wanted), 500):
        stmt = (
            select(capture_t)
            .where(capture_t.c.version_id.in_(wanted[start : start + 500]))
            .order_by(capture_t.c.id.desc())
        )
        for row in conn.execute(stmt):
            capture = Capture.model_validate(dict(row._mapping))
            found.setdefault(capture.version_id, []).append(capture)
    return found


@dataclass(slots=True)
class ExpiredCapture:
    """A capture that ``monitor gc`` may drop, with the version it belongs to."""

    capture: Capture
    #: When the version stopped being current (None: it still is, the capture is a duplicate).
    gone_at: datetime | None


def expired_captures(conn: Connection, target: int, cutoff: datetime) -> list[ExpiredCapture]:
    """Captures of ``target`` holding a blob that an age limit ending at ``cutoff`` drops.

    A version gone (removed or changed on the server) before ``cutoff`` loses every capture;
    a version still current keeps its newest complete capture, and loses older ones fetched
    before ``cutoff``.
    """
    gone = snapshot_t.alias("gone")
    of_gone = (
        select(capture_t, gone.c.started_at)
        .join(version_t, version_t.c.id == capture_t.c.version_id)
        .join(gone, gone.c.id == version_t.c.gone_snapshot)
        .where(
            capture_t.c.target_id == target,
            capture_t.c.sha256.is_not(None),
            gone.c.started_at < cutoff,
        )
    )
    newer = capture_t.alias("newer")
    superseded = (
        select(capture_t)
        .join(version_t, version_t.c.id == capture_t.c.version_id)
        .where(
            capture_t.c.target_id == target,
            capture_t.c.sha256.is_not(None),
            version_t.c.gone_snapshot.is_(None),
            capture_t.c.fetched_at < cutoff,
            select(newer.c.id)
            .where(
                newer.c.version_id == capture_t.c.version_id,
                newer.c.status == "complete",
                newer.c.id > capture_t.c.id,
            )
            .exists(),
        )
    )
    width = len(capture_t.c)
    keys = capture_t.c.keys()
    found = [
        ExpiredCapture(
            Capture.model_validate(dict(zip(keys, row[:width], strict=True))), row[width]
        )
        for row in conn.execute(of_gone)
    ]
    found += [
        ExpiredCapture(Capture.model_validate(dict(row._mapping)), None)
        for row in conn.execute(superseded)
    ]
    return sorted(found, key=lambda e: e.capture.id or 0)


def drop_captures(conn: Connection, capture_ids: Sequence[int]) -> int:
    """Delete captures; versions left without a complete capture forget their SHA-256."""
    if not capture_ids:
        return 0
    versions: set[int] = set()
    for start in range(0, len(capture_ids), 500):
        chunk = list(capture_ids[start : start + 500])
        versions.update(
            conn.execute(select(capture_t.c.version_id).where(capture_t.c.id.in_(chunk))).scalars()
        )
        conn.execute(delete(capture_t).where(capture_t.c.id.in_(chunk)))
    kept = select(capture_t.c.id).where(
        capture_t.c.version_id == version_t.c.id, capture_t.c.status == "complete"
    )
    wanted = sorted(versions)
    for start in range(0, len(wanted), 500):
        conn.execute(
            update(version_t)
            .where(version_t.c.id.in_(wanted[start : start + 500]), ~kept.exists())
            .values(sha256=None)
        )
    return len(capture_ids)


def _referenced(sha256: Any) -> Any:
    by_capture = select(capture_t.c.id).where(capture_t.c.sha256 == sha256)
    by_version = select(version_t.c.id).where(version_t.c.sha256 == sha256)
    return or_(by_capture.exists(), by_version.exists())


def unreferenced_blobs(conn: Connection) -> list[Blob]:
    """Blob rows that no capture and no version names, oldest first."""
    stmt = (
        select(blob_t)
        .where(~_referenced(blob_t.c.sha256))
        .order_by(blob_t.c.stored_at, blob_t.c.sha256)
    )
    return [Blob.model_validate(dict(r._mapping)) for r in conn.execute(stmt)]


def drop_blob_if_unreferenced(conn: Connection, sha256: str) -> bool:
    """Delete the row of blob ``sha256`` if nothing names it any more; True if deleted."""
    stmt = delete(blob_t).where(blob_t.c.sha256 == sha256, ~_referenced(blob_t.c.sha256))
    return bool(conn.execute(stmt).rowcount)


def blob_known(conn: Connection, sha256: str) -> bool:
    """Whether the database has a row for blob ``sha256``."""
    stmt = select(blob_t.c.sha256).where(blob_t.c.sha256 == sha256)
    return conn.execute(stmt).first() is not None
