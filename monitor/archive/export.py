"""Evidence packages: one batch, or one day of a target, as a zip that checks itself.

::

    files/<safe name>   each archived file, named by :mod:`monitor.archive.safenames`
    manifest.json       the package, and per file: server path, name, size, SHA-256, type,
                        and the provenance of its capture (URL, time, status, headers, IP, TLS)
    listing.csv         every file of the batch or day as listed, archived or not
    README.txt          what the package is, how to check it, what is missing and why
    SHA256SUMS          ``sha256sum -c`` lines for files/, manifest.json, listing.csv, README.txt

Files that were never archived are listed as missing with the reason, never dropped.
Bodies stream from the blob store into the zip chunk by chunk (ZIP64 when needed), are
hashed again on the way, and an export whose blob does not match its hash stops. The zip is
written to a temporary file beside ``out`` and renamed into place when complete.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from monitor import __version__
from monitor.archive.archiver import archive_rules
from monitor.archive.export_readme import readme
from monitor.archive.safenames import SafeNames
from monitor.config import ArchiveRules
from monitor.errors import MonitorError, UsageError
from monitor.output import display_name, iso, to_json, write_csv
from monitor.report import compute_diff, mtime_of, snapshot_ref
from monitor.store import archive_queries as aq
from monitor.store import queries as q
from monitor.store.models import Blob, Capture
from monitor.store.queries import StoredVersion

FORMAT = "filedrop-monitor evidence package 1"
FILES_DIR = "files/"
_FILE_MODE = 0o644  # never executable, whatever the server said


class BlobReader(Protocol):
    """What an export needs of a blob store."""

    def read(self, sha256: str) -> Iterator[bytes]: ...

    def exists(self, sha256: str) -> bool: ...

    def describe(self) -> str: ...


@dataclass(slots=True)
class ExportFile:
    """One file of the selection, with the capture that archived it or why there is none."""

    change: str
    version: StoredVersion
    capture: Capture | None = None
    blob: Blob | None = None
    missing: str | None = None
    #: The zip member holding the body (``files/...``), once chosen.
    name: str | None = None

    @property
    def archived(self) -> bool:
        return self.capture is not None and self.blob is not None


@dataclass(slots=True)
class Selection:
    """What is exported: a batch or a day of one target, and its files."""

    target: str
    target_kind: str
    target_url: str
    #: ``{"batch": {...}}`` or ``{"day": {...}}``, as the manifest shows it.
    scope: dict[str, Any]
    #: For people (README.txt, messages): server names in it are escaped.
    title: str
    files: list[ExportFile] = field(default_factory=list)

    @property
    def archived(self) -> list[ExportFile]:
        return [f for f in self.files if f.archived]


@dataclass(frozen=True, slots=True)
class ExportResult:
    out: Path
    files: int
    archived: int
    missing: int
    bytes: int


# -- choosing the files ------------------------------------------------------------------------


def batch_selection(
    conn: Connection, batch_id: int, *, kind: str, url: str, zone: ZoneInfo
) -> Selection:
    """The files of batch ``batch_id`` (its target named by the caller's ``kind``/``url``)."""
    batch = q.get_batch(conn, batch_id)
    target = q.target_names(conn)[batch.target_id]
    scope = {
        "batch": {
            "id": batch.id,
            "folder": batch.folder,
            "status": batch.status,
            "review": batch.review,
            "first_snapshot": batch.first_snapshot,
            "last_snapshot": batch.last_snapshot,
            "opened_at": iso(batch.opened_at, zone),
            "settled_at": iso(batch.settled_at, zone),
            "files": batch.files,
            "bytes": batch.total_bytes,
        }
    }
    files = [
        ExportFile(bf.change, v) for bf, v in q.batch_files(conn, batch_id) if v.type == "file"
    ]
    title = f"batch {batch.id} of {target} (folder {display_name(batch.folder or '/')})"
    return Selection(target, kind, url, scope, title, files)


def day_selection(
    conn: Connection, target: str, day: date, *, kind: str, url: str, zone: ZoneInfo
) -> Selection:
    """The files ``target`` added or modified on ``day``, as ``monitor diff --day`` has them."""
    tid = q.target_id(conn, target)
    start, end = q.day_bounds(day, zone)
    before = q.snapshot_at(conn, tid, start - timedelta(microseconds=1))
    after = q.snapshot_at(conn, tid, end - timedelta(microseconds=1))
    changes = compute_diff(conn, tid, before, after)
    files = [ExportFile("added", v) for v in changes.added if v.type == "file"]
    files += [ExportFile("modified", new) for _, new in changes.modified if new.type == "file"]
    files.sort(key=lambda f: f.version.path)
    scope = {
        "day": {
            "date": day.isoformat(),
            "timezone": str(zone),
            "from": snapshot_ref(before, zone),
            "to": snapshot_ref(after, zone),
        }
    }
    return Selection(target, kind, url, scope, f"{day.isoformat()} of {target}", files)


def attach_captures(
    conn: Connection, selection: Selection, store: BlobReader, rules: ArchiveRules | None
) -> None:
    """Give each file its newest complete capture whose blob is stored, or a reason.

    ``rules`` are the target's ``[target.archive]`` (None: the target is not configured).
    """
    files = selection.files
    captures = aq.captures_of_versions(conn, [f.version.id for f in files])
    hashes = {c.sha256 for cs in captures.values() for c in cs if c.sha256}
    blobs = aq.blobs_by_hash(conn, hashes)
    for item in files:
        tried = captures.get(item.version.id, [])
        for capture in tried:
            if capture.status != "complete" or capture.sha256 not in blobs:
                continue
            if store.exists(capture.sha256):
                item.capture, item.blob = capture, blobs[capture.sha256]
                break
            item.missing = f"its blob {capture.sha256} is not in the store (see monitor verify)"
        if not item.archived and item.missing is None:
            item.missing = _why_missing(item.version, tried, rules)


def _why_missing(
    version: StoredVersion, tried: Sequence[Capture], rules: ArchiveRules | None
) -> str:
    if not tried:
        if rules is None or not rules.enabled:
            return "archiving is off for this target"
        selected = archive_rules(rules)
        if selected.active and selected.skips_file(version.path):
            return "left out by the [target.archive] include/exclude rules"
        if version.gone_snapshot is not None:
            return "not captured before it left the server"
        return "not captured yet"
    last = tried[0]
    detail = f": {last.error}" if last.error else ""
    if last.status == "skipped":
        return f"skipped by the archive rules{detail}"
    if last.status == "changed":
        return f"the file changed while it was downloaded{detail}"
    if last.status == "failed":
        return f"download failed after {last.attempts} tries{detail}"
    return f"capture {last.status}{detail}"


# -- writing the zip ---------------------------------------------------------------------------


def export_zip(
    selection: Selection,
    store: BlobReader,
    out: Path,
    *,
    force: bool,
    now: datetime,
    zone: ZoneInfo,
) -> ExportResult:
    """Write ``selection`` as a zip at ``out`` (see the module docstring); nothing on error."""
    if not selection.files:
        raise MonitorError(f"nothing to export: {selection.title} has no file")
    if not selection.archived:
        raise MonitorError(
            f"nothing to export: none of the {len(selection.files)} files of "
            f"{selection.title} is archived ({selection.files[0].missing}, ...)"
        )
    if out.exists() and not force:
        raise UsageError(f"{out} exists; use --force to replace it")
    names = SafeNames()
    for item in selection.archived:
        item.name = FILES_DIR + names.name_for(item.version.path)
    folder = out.parent if str(out.parent) else Path(".")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise MonitorError(f"cannot write in {folder}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "w+b") as raw:
            written = _write_zip(raw, selection, store, now=now, zone=zone)
            raw.flush()
            os.fsync(raw.fileno())
        if out.exists() and not force:
            raise UsageError(f"{out} appeared while the export was written; use --force")
        os.replace(temp, out)
    except OSError as exc:
        raise MonitorError(f"cannot write {out}: {exc.strerror or exc}") from exc
    finally:
        Path(temp).unlink(missing_ok=True)
    archived = len(selection.archived)
    return ExportResult(
        out, len(selection.files), archived, len(selection.files) - archived, written
    )


def _write_zip(
    raw: IO[bytes], selection: Selection, store: BlobReader, *, now: datetime, zone: ZoneInfo
) -> int:
    sums: list[tuple[str, str]] = []
    total = 0
    with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for item in selection.archived:
            total += _add_body(zf, item, store)
            assert item.name is not None and item.blob is not None
            sums.append((item.blob.sha256, item.name))
        extras = {
            "manifest.json": (to_json(manifest(selection, now=now, zone=zone)) + "\n").encode(),
            "listing.csv": listing_csv(selection, zone).encode("utf-8"),
            "README.txt": readme(selection, now=now, zone=zone).encode("utf-8"),
        }
        for name, data in extras.items():
            zf.writestr(_member(name, now), data)
            sums.append((hashlib.sha256(data).hexdigest(), name))
        lines = "".join(f"{digest}  {name}\n" for digest, name in sums)
        zf.writestr(_member("SHA256SUMS", now), lines.encode("utf-8"))
    return total


def _member(name: str, when: datetime) -> zipfile.ZipInfo:
    moment = min(
        max(when.astimezone(UTC), datetime(1980, 1, 1, tzinfo=UTC)),
        datetime(2107, 12, 31, tzinfo=UTC),
    )
    info = zipfile.ZipInfo(name, date_time=moment.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = _FILE_MODE << 16
    return info


def _add_body(zf: zipfile.ZipFile, item: ExportFile, store: BlobReader) -> int:
    """Stream one blob into the zip, checking its hash and size on the way."""
    assert item.name is not None and item.blob is not None and item.capture is not None
    info = _member(item.name, mtime_of(item.version) or item.capture.fetched_at)
    info.file_size = item.blob.size  # lets zipfile choose ZIP64 before it writes the header
    digest = hashlib.sha256()
    size = 0
    with zf.open(info, "w", force_zip64=item.blob.size >= zipfile.ZIP64_LIMIT) as member:
        for chunk in _blob_chunks(store, item.blob.sha256):
            digest.update(chunk)
            size += len(chunk)
            member.write(chunk)
    if digest.hexdigest() != item.blob.sha256 or size != item.blob.size:
        raise MonitorError(
            f"blob {item.blob.sha256} in {store.describe()} does not match its hash "
            f"(it reads as {size} bytes hashing to {digest.hexdigest()}); nothing was "
            "exported: run 'monitor verify'"
        )
    return size


def _blob_chunks(store: BlobReader, sha256: str) -> Iterator[bytes]:
    """The blob's bytes; a read error says which blob (not the zip being written)."""
    try:
        yield from store.read(sha256)
    except OSError as exc:
        raise MonitorError(
            f"cannot read blob {sha256} in {store.describe()}: {exc.strerror or exc}; "
            "nothing was exported: run 'monitor verify'"
        ) from exc


# -- what the package says about itself --------------------------------------------------------


def _headers(capture: Capture) -> Any:
    if capture.headers is None:
        return None
    try:
        return json.loads(capture.headers)
    except ValueError:
        return capture.headers


def manifest_entry(item: ExportFile, zone: ZoneInfo) -> dict[str, Any]:
    v, blob, capture = item.version, item.blob, item.capture
    return {
        "path": v.path,
        "change": item.change,
        "archived": item.archived,
        "name": item.name,
        "size": blob.size if blob else v.size,
        "listed_size": v.size,
        "mtime": iso(mtime_of(v), zone),
        "etag": v.etag,
        "sha256": blob.sha256 if blob else None,
        "mime": blob.mime if blob else None,
        "description": blob.description if blob else None,
        "missing": item.missing if not item.archived else None,
        "version": {
            "id": v.id,
            "first_snapshot": v.first_snapshot,
            "gone_snapshot": v.gone_snapshot,
        },
        "capture": None
        if capture is None
        else {
            "id": capture.id,
            "url": capture.url,
            "fetched_at": iso(capture.fetched_at, zone),
            "http_status": capture.http_status,
            "headers": _headers(capture),
            "ip": capture.ip,
            "tls_fingerprint": capture.tls_fingerprint,
            "attempts": capture.attempts,
        },
    }


def manifest(selection: Selection, *, now: datetime, zone: ZoneInfo) -> dict[str, Any]:
    archived = selection.archived
    return {
        "format": FORMAT,
        "tool": {"name": "filedrop-monitor", "version": __version__},
        "created_at": iso(now, zone),
        "target": {
            "name": selection.target,
            "kind": selection.target_kind,
            "url": selection.target_url,
        },
        **selection.scope,
        "summary": {
            "files": len(selection.files),
            "archived": len(archived),
            "missing": len(selection.files) - len(archived),
            "bytes": sum(f.blob.size for f in archived if f.blob),
        },
        "files": [manifest_entry(f, zone) for f in selection.files],
    }


LISTING_COLUMNS = (
    "path",
    "change",
    "size",
    "mtime",
    "etag",
    "archived",
    "name",
    "sha256",
    "mime",
    "missing",
)


def listing_csv(selection: Selection, zone: ZoneInfo) -> str:
    rows = []
    for item in selection.files:
        entry = manifest_entry(item, zone)
        rows.append(
            {**entry, "size": item.version.size, "archived": "yes" if item.archived else "no"}
        )
    out = io.StringIO()
    write_csv(rows, LISTING_COLUMNS, zone=zone, stream=out)
    return out.getvalue()
