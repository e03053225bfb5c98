"""``monitor verify``: re-hash the blobs the database records and report those that are wrong.

Each recorded blob (or each blob a target's complete captures name) is read back from the
store and hashed: ``ok`` when the bytes hash to its name and have its recorded size (its
``verified_at`` is then set), ``missing`` when the store does not have it, ``corrupt`` when
they differ, ``unreadable`` when the store refuses to give it or a read fails part way.
Blobs in the store that no row records are reported as ``unrecorded`` (not an error: a run
may be storing one right now; ``monitor gc`` removes old ones). Hashing runs in a few
threads (hashlib releases the GIL).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update

from monitor.archive.blobs import BlobStore
from monitor.archive.blobs.base import os_error_message
from monitor.archive.records import blob_t, capture_t
from monitor.errors import BlobMissing, BlobStoreError
from monitor.store import Store
from monitor.store.queries import target_id

#: Statuses that make ``monitor verify`` fail.
PROBLEMS = ("missing", "corrupt", "unreadable")


@dataclass(frozen=True, slots=True)
class BlobCheck:
    """What re-hashing one blob found."""

    sha256: str
    status: str
    size: int | None
    found_size: int | None = None
    found_sha256: str | None = None
    detail: str = ""


def recorded_blobs(conn: Connection, target: str | None = None) -> list[tuple[str, int]]:
    """(sha256, size) of every blob row, or of those a target's complete captures name."""
    stmt = select(blob_t.c.sha256, blob_t.c.size).order_by(blob_t.c.sha256)
    if target is not None:
        named = select(capture_t.c.sha256).where(
            capture_t.c.target_id == target_id(conn, target), capture_t.c.status == "complete"
        )
        stmt = stmt.where(blob_t.c.sha256.in_(named))
    return [(str(sha), int(size)) for sha, size in conn.execute(stmt)]


def check_blob(blobs: BlobStore, sha256: str, size: int | None) -> BlobCheck:
    """Read blob ``sha256`` back and hash it."""
    digest = hashlib.sha256()
    found = 0
    try:
        for chunk in blobs.read(sha256):
            digest.update(chunk)
            found += len(chunk)
    except BlobMissing:
        return BlobCheck(sha256, "missing", size, detail=f"not in {blobs.describe()}")
    except BlobStoreError as exc:
        return BlobCheck(sha256, "unreadable", size, detail=exc.message)
    except OSError as exc:  # a read error past the open (EIO from a failing disk)
        why = os_error_message(exc, f"cannot read blob {sha256} after {found} bytes")
        return BlobCheck(sha256, "unreadable", size, detail=why)
    got = digest.hexdigest()
    if got != sha256 or (size is not None and found != size):
        detail = f"{found} bytes hashing to {got}" + (f", {size} recorded" if size else "")
        return BlobCheck(sha256, "corrupt", size, found, got, detail)
    return BlobCheck(sha256, "ok", size, found, got)


def verify_blobs(
    store: Store,
    blobs: BlobStore,
    *,
    now: datetime,
    target: str | None = None,
    workers: int = 4,
    progress: Callable[[BlobCheck], None] | None = None,
) -> list[BlobCheck]:
    """Check every recorded blob (see the module docstring); mark the good ones verified."""
    with store.read() as conn:
        recorded = recorded_blobs(conn, target)
    checks: list[BlobCheck] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verify") as pool:
        for check in pool.map(lambda item: check_blob(blobs, *item), recorded):
            checks.append(check)
            if progress is not None:
                progress(check)
    _mark_verified((c.sha256 for c in checks if c.status == "ok"), store, now)
    if target is None:
        known = {sha for sha, _ in recorded}
        checks += [
            BlobCheck(sha, "unrecorded", None, detail="in the store, not in the database")
            for sha in blobs.hashes()
            if sha not in known
        ]
    return checks


def _mark_verified(hashes: Iterable[str], store: Store, now: datetime) -> None:
    batch: list[str] = []
    for sha in hashes:
        batch.append(sha)
        if len(batch) == 500:
            _mark(store, batch, now)
            batch = []
    if batch:
        _mark(store, batch, now)


def _mark(store: Store, hashes: list[str], now: datetime) -> None:
    with store.write() as conn:
        conn.execute(update(blob_t).where(blob_t.c.sha256.in_(hashes)).values(verified_at=now))
