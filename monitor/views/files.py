"""The history of one path of one target: every version it had, oldest first."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from pydantic import Field
from sqlalchemy import Connection, select

from monitor.config import Settings
from monitor.errors import NotFound
from monitor.output import display_name
from monitor.report import mtime_of
from monitor.store import archive_queries as aq
from monitor.store import queries as q
from monitor.store.models import Batch
from monitor.store.queries import batch_t
from monitor.views import _queries as vq
from monitor.views._common import ArchivedBody, Moment, View, archived_body, local, resolve_target


class BatchRef(View):
    """The batch a version arrived in."""

    id: int = Field(description="Batch id.")
    folder: str = Field(description="Its folder ('' for the target root).")
    status: str = Field(description="open or settled.")
    review: str = Field(description="new, reviewed, flagged or dismissed.")
    change: str = Field(description="How the file came in it: added or modified.")


class VersionRow(View):
    """One state of the path, from the snapshot that first saw it to the one that saw it go."""

    version_id: int = Field(description="Version id.")
    type: str = Field(description="'file' or 'dir'.")
    size: int | None = Field(description="Bytes.")
    mtime: Moment | None = Field(description="Modification time the server gave.")
    etag: str | None = Field(description="ETag the server gave.")
    sha256: str | None = Field(description="SHA-256 of the body, when archived.")
    first_snapshot: int = Field(description="The snapshot that first saw this state.")
    first_seen: Moment = Field(description="When that poll started.")
    last_seen_snapshot: int | None = Field(
        description="The last snapshot with a listing while this state held (for a current "
        "version, the latest one)."
    )
    last_seen: Moment | None = Field(description="When that poll started.")
    gone_snapshot: int | None = Field(
        description="The snapshot that saw it removed or changed (None: still current)."
    )
    gone_at: Moment | None = Field(description="When that poll started.")
    batch: BatchRef | None = Field(description="The batch it arrived in (None: none).")
    archive: ArchivedBody = Field(description="What the archive holds of this version.")


class FileHistory(View):
    """Every version of one path."""

    target: str = Field(description="Target name.")
    path: str = Field(description="The path, decoded.")
    url: str | None = Field(description="Where it is (None: the target is not configured).")
    present: bool = Field(description="True when the target has it now.")
    versions: list[VersionRow] = Field(description="Its versions, oldest first.")


def file_history(
    conn: Connection, settings: Settings, name: str, path: str, *, zone: ZoneInfo
) -> FileHistory:
    """Every version ``path`` had in target ``name``; NotFound if it was never seen."""
    target = resolve_target(conn, settings, name)
    path = path.strip("/")
    spans = q.history(conn, target.id, path) if target.id is not None else []
    if not spans or target.id is None:
        raise NotFound(f"{name}: {display_name(path)!r} was never seen")
    versions = [s.version for s in spans]
    batches = _batches(conn, versions)
    captures = aq.captures_of_versions(conn, [v.id for v in versions])
    blobs = aq.blobs_by_hash(conn, {c.sha256 for cs in captures.values() for c in cs if c.sha256})
    rows = []
    for span in spans:
        v = span.version
        seen = vq.last_seen(conn, target.id, v.gone_snapshot)
        rows.append(
            VersionRow(
                version_id=v.id,
                type=v.type,
                size=v.size,
                mtime=local(mtime_of(v), zone),
                etag=v.etag,
                sha256=v.sha256,
                first_snapshot=v.first_snapshot,
                first_seen=span.seen_at.astimezone(zone),
                last_seen_snapshot=None if seen is None else seen.id,
                last_seen=None if seen is None else seen.started_at.astimezone(zone),
                gone_snapshot=v.gone_snapshot,
                gone_at=local(span.gone_at, zone),
                batch=batches.get(v.id),
                archive=archived_body(captures.get(v.id, []), blobs, zone),
            )
        )
    return FileHistory(
        target=target.name,
        path=path,
        url=target.url(path),
        present=versions[-1].gone_snapshot is None,
        versions=rows,
    )


def _batches(conn: Connection, versions: list[q.StoredVersion]) -> dict[int, BatchRef]:
    """The batch of each version. A batch file points at the latest version the batch holds;
    an earlier version that the same open batch took in belongs to it too."""
    links = vq.batch_files_of_versions(conn, [v.id for v in versions])
    if not links:
        return {}
    rows = conn.execute(select(batch_t).where(batch_t.c.id.in_({b for _, b, _ in links})))
    found = {int(r.id): Batch.model_validate(dict(r._mapping)) for r in rows}
    change = {b: c for _, b, c in links}
    by_version = {v: b for v, b, _ in links}
    refs: dict[int, BatchRef] = {}
    for v in versions:
        batch_id = by_version.get(v.id)
        if batch_id is None and v.type == "file":
            batch_id = next(
                (
                    b.id
                    for b in found.values()
                    if b.id is not None and b.first_snapshot <= v.first_snapshot <= b.last_snapshot
                ),
                None,
            )
        if batch_id is not None:
            b = found[batch_id]
            refs[v.id] = BatchRef(
                id=batch_id, folder=b.folder, status=b.status, review=b.review,
                change=change[batch_id],
            )  # fmt: skip
    return refs
