"""``monitor gc``: age limits on archived versions, and blobs nothing names any more.

What goes, in this order:

1. **Expired captures.** For each target with ``[target.archive] max_age``, a capture holding
   a blob expires when its version stopped being current (the file was removed or changed on
   the server) more than ``max_age`` ago. A version the server still has keeps its newest
   complete capture whatever its age; older captures of that same version expire once they
   were fetched more than ``max_age`` ago. An expired capture row is deleted, and a version
   left with no complete capture forgets its SHA-256. Targets without ``max_age`` keep
   everything.
2. **Unreferenced blobs.** A blob row that no capture and no version names any more is
   deleted with its body. A blob another target (or another version) still names is kept:
   expiring one target's capture never takes a body from another.
3. **Orphan bodies** (only with ``orphans``): bodies in the store without a blob row, left
   by a crash between storing and recording.

With ``apply``, gc holds the archive lock alone (:mod:`~monitor.archive.lock`), waiting for the
archive runs in flight: no run is between storing (or finding) a body and recording the row
that names it while gc decides and deletes.

Without ``apply`` nothing changes: the same work runs inside a savepoint that is rolled back
(so a dry run waits for the write lock like a poll), and the report says what would go. With
it, the database changes commit first and the bodies are deleted after, each only if no row
names it again meanwhile; a crash in between leaves orphan bodies (harmless, removed by
``orphans``), never a row naming a deleted body.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from monitor.archive.lock import alone
from monitor.errors import MonitorError
from monitor.output import iso
from monitor.store import Store
from monitor.store import archive_queries as aq
from monitor.store import queries as q


class BlobDeleter(Protocol):
    """What gc needs of a blob store."""

    def delete(self, sha256: str) -> None: ...

    def size(self, sha256: str) -> int | None: ...

    def hashes(self) -> Iterator[str]: ...


@dataclass(frozen=True, slots=True)
class Removal:
    """One thing gc removes (or would): an expired capture, a blob, or an orphan body."""

    kind: str  # capture | blob | orphan
    sha256: str
    size: int | None
    target: str | None = None
    path: str | None = None
    capture_id: int | None = None
    reason: str = ""

    def as_row(self, zone: ZoneInfo) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target": self.target,
            "path": self.path,
            "capture": self.capture_id,
            "sha256": self.sha256,
            "size": self.size,
            "reason": self.reason,
        }


@dataclass(slots=True)
class GcReport:
    applied: bool
    removals: list[Removal] = field(default_factory=list)
    #: Bodies that could not be deleted (sha256 -> why); their rows are gone already.
    errors: dict[str, str] = field(default_factory=dict)

    def of(self, kind: str) -> list[Removal]:
        return [r for r in self.removals if r.kind == kind]

    @property
    def freed(self) -> int:
        return sum(r.size or 0 for r in self.removals if r.kind != "capture")

    def summary(self) -> dict[str, int]:
        return {
            "captures": len(self.of("capture")),
            "blobs": len(self.of("blob")),
            "orphans": len(self.of("orphan")),
            "bytes": self.freed,
            "errors": len(self.errors),
        }


def collect_garbage(
    db: Store,
    blobs: BlobDeleter,
    max_ages: Mapping[str, timedelta | None],
    *,
    now: datetime,
    zone: ZoneInfo,
    apply: bool = False,
    orphans: bool = False,
    wait: float | None = None,
) -> GcReport:
    """Plan (and with ``apply``, do) what the module docstring describes.

    ``max_ages`` maps each configured target's name to its ``max_age`` (None: no limit).
    ``wait``: how long ``apply`` waits for archive runs in flight (default
    :data:`~monitor.archive.lock.WAIT_SECONDS`; then MonitorError, nothing removed).
    """
    if not apply:
        return _collect(db, blobs, max_ages, now, zone, apply, orphans)
    with alone(db, wait):
        return _collect(db, blobs, max_ages, now, zone, apply, orphans)


def _collect(
    db: Store,
    blobs: BlobDeleter,
    max_ages: Mapping[str, timedelta | None],
    now: datetime,
    zone: ZoneInfo,
    apply: bool,
    orphans: bool,
) -> GcReport:
    report = GcReport(applied=apply)
    with db.write() as conn:
        # A dry run does the same work inside a savepoint that it rolls back.
        savepoint = None if apply else conn.begin_nested()
        try:
            expired = _expired(conn, q.target_names(conn), max_ages, now, zone)
            aq.drop_captures(conn, [r.capture_id for r in expired if r.capture_id is not None])
            unnamed = aq.unreferenced_blobs(conn)
            for blob in unnamed:
                aq.drop_blob_if_unreferenced(conn, blob.sha256)
            known = set(aq.blobs_by_hash(conn, blobs.hashes())) if orphans else set()
        finally:
            if savepoint is not None:
                savepoint.rollback()
    report.removals += expired
    report.removals += [
        Removal("blob", b.sha256, b.size, reason="no capture or version names it") for b in unnamed
    ]
    if orphans:
        report.removals += [
            Removal("orphan", sha, blobs.size(sha), reason="in the store without a blob row")
            for sha in blobs.hashes()
            if sha not in known and sha not in {b.sha256 for b in unnamed}
        ]
    if apply:
        _delete_bodies(db, blobs, report)
    return report


def _expired(
    conn: Any,
    names: Mapping[int, str],
    max_ages: Mapping[str, timedelta | None],
    now: datetime,
    zone: ZoneInfo,
) -> list[Removal]:
    found: list[Removal] = []
    for tid, name in sorted(names.items()):
        max_age = max_ages.get(name)
        if max_age is None:
            continue
        for item in aq.expired_captures(conn, tid, now - max_age):
            c = item.capture
            assert c.sha256 is not None
            if item.gone_at is not None:
                why = f"gone from the server since {iso(item.gone_at, zone)}"
            else:
                why = f"an older copy (fetched {iso(c.fetched_at, zone)}) of a current version"
            found.append(Removal("capture", c.sha256, c.size, name, c.path, c.id, why))
    return found


def _delete_bodies(db: Store, blobs: BlobDeleter, report: GcReport) -> None:
    """Delete the bodies of removed blobs, each only if no row names it again meanwhile."""
    for removal in report.removals:
        if removal.kind == "capture":
            continue
        with db.read() as conn:
            if aq.blob_known(conn, removal.sha256):
                report.errors[removal.sha256] = "recorded again meanwhile; kept"
                continue
        try:
            blobs.delete(removal.sha256)
        except MonitorError as exc:
            report.errors[removal.sha256] = str(exc)
