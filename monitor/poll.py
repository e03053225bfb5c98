"""One poll of one target: list it, then record the snapshot, its versions and batches at once.

Everything a poll writes happens in one transaction, so a crash or a kill leaves either the
whole snapshot or nothing. Failures are data: a poll returns a :class:`PollResult` whose status
is ``complete``, ``partial``, ``failed`` or ``suspect``; it raises only when the database
itself fails.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime

from sqlalchemy import Connection, bindparam, insert, select, update

from monitor import alerts
from monitor.batches import Arrival, follow_moves, record_arrivals, settle_batches
from monitor.config import TargetConfig
from monitor.diff import PollChanges, compare, is_suspect
from monitor.errors import MonitorError, RootUnavailable
from monitor.preload import Preloaded, preload
from monitor.preload import current as current_state
from monitor.sources import make_source
from monitor.sources.base import Entry, FolderFailure, Listing, ProgressCallback
from monitor.store import Store
from monitor.store.models import Snapshot
from monitor.store.queries import (
    StoredVersion,
    current_versions,
    get_snapshot,
    insert_versions,
    latest_snapshot,
    opened_at,
    snapshot_t,
    target_id,
    version_t,
)

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class PollResult:
    """What one poll did, for the log line, the CLI and (later) alerts."""

    target: str
    snapshot_id: int
    status: str
    files: int = 0
    dirs: int = 0
    total_bytes: int = 0
    added: int = 0
    removed: int = 0
    modified: int = 0
    moved: int = 0
    error: str | None = None
    failed_folders: list[FolderFailure] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)
    settled: list[int] = field(default_factory=list)
    confirmed: int | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status in {"complete", "partial"}


async def poll_target(
    store: Store,
    target: TargetConfig,
    *,
    clock: Clock = utc_now,
    progress: ProgressCallback | None = None,
) -> PollResult:
    """Poll ``target`` once and record the snapshot."""
    started = clock()
    t0 = time.perf_counter()
    source = make_source(target)
    # The current versions are read while the crawl waits on the network (see monitor.preload).
    preloading = asyncio.ensure_future(asyncio.to_thread(preload, store, target.name))
    try:
        listing: Listing | None = await source.list(progress)
        error = None
    except RootUnavailable as exc:
        listing, error = None, exc.message
    finally:
        preloaded = await preloading
    log.info("%s: listed %d entries", target.name, len(listing.entries) if listing else 0)
    result = await asyncio.to_thread(
        record_poll,
        store,
        target,
        listing,
        error=error,
        started=started,
        now=clock(),
        preloaded=preloaded if listing is not None else None,
    )
    result.seconds = time.perf_counter() - t0
    return result


def record_poll(
    store: Store,
    target: TargetConfig,
    listing: Listing | None,
    *,
    error: str | None = None,
    started: datetime,
    now: datetime,
    preloaded: Preloaded | None = None,
) -> PollResult:
    """Write the snapshot of one poll (``listing`` None: the poll failed with ``error``);
    ``preloaded``: current versions read during the crawl, used if still current."""
    with store.write() as conn:
        tid = target_id(conn, target.name, lock=True)
        if listing is not None and (stale := _stale(conn, tid, started)):
            listing, error = None, stale
        if listing is None:
            sid = _insert_snapshot(
                conn, tid, started=started, now=now, status="failed", error=error
            )
            alerts.poll_failed(
                conn, target=target, target_id=tid, snapshot_id=sid, error=error or "", now=now
            )
            return PollResult(target.name, sid, "failed", error=error)
        listing = _sanitized(listing, target.name)
        current = current_state(conn, tid, preloaded)
        changes = compare(current, listing)
        held = _held_suspect(conn, tid)
        confirmed = None
        if is_suspect(current, changes, target.max_removed_ratio, target.suspect_min_removed):
            if held is None or not _same_loss(current, held, changes):
                if held is not None:
                    _supersede(conn, held, now=now, confirmed=False)
                return _hold(conn, tid, target, listing, changes, current, started, now)
            confirmed = held.id
        if held is not None:
            _supersede(conn, held, now=now, confirmed=confirmed is not None)
        baseline = latest_snapshot(conn, tid, applied_only=True) is None
        sid = _insert_snapshot(
            conn, tid, started=started, now=now, status=status_of(listing), listing=listing
        )
        log.info("%s: snapshot %d: writing %d changes", target.name, sid, _count(changes))
        result = _apply(
            conn,
            tid,
            sid,
            target,
            changes,
            current,
            now,
            baseline=baseline,
            failed=[f.path for f in listing.failed_folders],
        )
        result.status = status_of(listing)
        result.failed_folders = list(listing.failed_folders)
        result.confirmed = confirmed
        _update_counts(conn, sid, result)
        alerts.poll_succeeded(conn, target=target, target_id=tid, snapshot_id=sid, now=now)
        alerts.check_stale(conn, target=target, target_id=tid, snapshot_id=sid, now=now)
        return result


def status_of(listing: Listing) -> str:
    return "partial" if listing.failed_folders else "complete"


def _stale(conn: Connection, tid: int, started: datetime) -> str | None:
    """Why a listing must not be applied because a poll that started later got in first."""
    latest = latest_snapshot(conn, tid)
    if latest is not None and latest.started_at > started:
        return (
            f"a poll that started later was recorded first (snapshot {latest.id}); "
            "this older listing is not applied"
        )
    return None


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _sanitized(listing: Listing, name: str) -> Listing:
    """The listing with sizes and mtimes a database column can hold (servers send anything)."""

    def fits(value: int | None) -> bool:
        return value is None or _INT64_MIN <= value <= _INT64_MAX

    if all(fits(e.size) and fits(e.mtime_ns) for e in listing.entries):
        return listing

    def clamp(value: int | None) -> int | None:
        return None if value is None else max(_INT64_MIN, min(_INT64_MAX, value))

    entries = [
        e
        if fits(e.size) and fits(e.mtime_ns)
        else replace(e, size=clamp(e.size), mtime_ns=clamp(e.mtime_ns))
        for e in listing.entries
    ]
    log.warning("%s: sizes or mtimes beyond what can be stored were clamped", name)
    return replace(listing, entries=entries)


def _same_loss(current: dict[str, StoredVersion], held: Snapshot, changes: PollChanges) -> bool:
    """True when a suspect listing loses exactly the files the held one lost: it confirms."""
    if held.held_listing is None:
        return False
    before = compare(current, _unpack(held.held_listing))
    return {v.path for v in before.removed} == {v.path for v in changes.removed}


def _count(changes: PollChanges) -> int:
    return len(changes.added) + len(changes.removed) + len(changes.modified) + len(changes.moved)


def _held_suspect(conn: Connection, tid: int) -> Snapshot | None:
    last = latest_snapshot(conn, tid)
    while last is not None and last.status == "failed":
        last = _previous(conn, tid, last)
    if last is not None and last.status == "suspect" and not last.applied and not last.accepted_by:
        return last
    return None


def _previous(conn: Connection, tid: int, snap: Snapshot) -> Snapshot | None:
    row = conn.execute(
        select(snapshot_t)
        .where(snapshot_t.c.target_id == tid, snapshot_t.c.id < snap.id)
        .order_by(snapshot_t.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else Snapshot.model_validate(dict(row._mapping))


def _insert_snapshot(
    conn: Connection,
    tid: int,
    *,
    started: datetime,
    now: datetime,
    status: str,
    error: str | None = None,
    listing: Listing | None = None,
    applied: bool = True,
    held: bytes | None = None,
) -> int:
    failed = [asdict(f) for f in listing.failed_folders] if listing else []
    result = conn.execute(
        insert(snapshot_t).values(
            target_id=tid,
            started_at=started,
            finished_at=now,
            status=status,
            applied=applied and status != "failed",
            error=error,
            failed_folders=json.dumps(failed) if failed else None,
            info=json.dumps(listing.info) if listing and listing.info else None,
            skipped=listing.skipped if listing else 0,
            held_listing=held,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def _hold(
    conn: Connection,
    tid: int,
    target: TargetConfig,
    listing: Listing,
    changes: PollChanges,
    current: dict[str, StoredVersion],
    started: datetime,
    now: datetime,
) -> PollResult:
    files_before = sum(1 for v in current.values() if v.type == "file")
    lost = sum(1 for v in changes.removed if v.type == "file")
    error = (
        f"{lost} of {files_before} files vanished at once (more than "
        f"{target.max_removed_ratio:.0%}); held until a later poll confirms it or "
        "'monitor snapshots accept' accepts it"
    )
    sid = _insert_snapshot(
        conn,
        tid,
        started=started,
        now=now,
        status="suspect",
        error=error,
        listing=listing,
        applied=False,
        held=_pack(listing),
    )
    files, dirs, total = _state_counts(current, changes)
    result = PollResult(
        target.name,
        sid,
        "suspect",
        files=files,
        dirs=dirs,
        total_bytes=total,
        error=error,
        added=len(changes.added),
        removed=len(changes.removed),
        modified=len(changes.modified),
        moved=len(changes.moved),
        failed_folders=list(listing.failed_folders),
    )
    _update_counts(conn, sid, result)
    alerts.suspect_held(
        conn, target=target, target_id=tid, snapshot_id=sid, removed=lost,
        files_before=files_before, reason=error, now=now,
    )  # fmt: skip
    # The server answered with a listing: a down target is back, even if the listing is odd.
    alerts.poll_succeeded(conn, target=target, target_id=tid, snapshot_id=sid, now=now)
    return result


def _supersede(conn: Connection, held: Snapshot, *, now: datetime, confirmed: bool) -> None:
    """A later poll decided about a held suspect snapshot: drop its held listing."""
    values: dict[str, object] = {"held_listing": None}
    if confirmed:
        values.update(accepted_by="confirmed by a later poll", accepted_at=now)
    else:
        values["error"] = f"{held.error or 'suspect'}; superseded by a later poll, never applied"
    conn.execute(update(snapshot_t).where(snapshot_t.c.id == held.id).values(**values))


def _apply(
    conn: Connection,
    tid: int,
    sid: int,
    target: TargetConfig,
    changes: PollChanges,
    current: dict[str, StoredVersion],
    now: datetime,
    *,
    baseline: bool = False,
    failed: list[str] | None = None,
) -> PollResult:
    """Close the versions that ended and open the new ones, then group the arrivals.

    The first applied snapshot of a target is its baseline: what was there before anyone
    watched is recorded, but it did not "arrive", so it opens no batch.
    """
    ended = [v.id for v in changes.removed]
    ended += [old.id for old, _ in changes.modified]
    ended += [old.id for old, _ in changes.moved]
    if ended:
        conn.execute(
            update(version_t).where(version_t.c.id == bindparam("vid")).values(gone_snapshot=sid),
            [{"vid": v} for v in ended],
        )
    new_entries = [e for e in changes.added]
    new_entries += [e for _, e in changes.modified]
    new_entries += [e for _, e in changes.moved]
    insert_versions(conn, tid, sid, new_entries)
    # The ids are needed for the arrivals and the moves; a baseline has neither.
    ids = opened_at(conn, tid, sid) if changes.moved or not baseline else {}
    kinds = {e.path: "added" for e in changes.added}
    kinds.update({e.path: "modified" for _, e in changes.modified})
    arrivals = [
        Arrival(e.path, ids[e.path], kinds[e.path])
        for e in new_entries
        if e.type == "file" and e.path in kinds and not baseline
    ]
    batches = record_arrivals(
        conn, target_id=tid, snapshot_id=sid, arrivals=arrivals, depth=target.batch_depth, now=now
    )
    follow_moves(conn, [(old.id, new.path, ids[new.path]) for old, new in changes.moved])
    settled = settle_batches(
        conn, target_id=tid, snapshot_id=sid, settle=target.settle, now=now, failed=failed or []
    )
    url_for = make_source(target).url_for
    arrived: list[alerts.Arrived] = [(e, "added", None) for e in changes.added]
    arrived += [(new, "modified", old) for old, new in changes.modified]
    arrived += [(new, "moved", old) for old, new in changes.moved]
    arrived = [a for a in arrived if a[0].type == "file"]
    if not baseline:
        alerts.watch_hits(
            conn, target=target, target_id=tid, snapshot_id=sid, arrivals=arrived,
            url_for=url_for, now=now,
        )  # fmt: skip
    alerts.batches_settled(
        conn, target=target, snapshot_id=sid, batch_ids=settled, url_for=url_for, now=now
    )
    state = _state_counts(current, changes)
    return PollResult(
        target.name,
        sid,
        "complete",
        files=state[0],
        dirs=state[1],
        total_bytes=state[2],
        added=len(changes.added),
        removed=len(changes.removed),
        modified=len(changes.modified),
        moved=len(changes.moved),
        batches=batches,
        settled=settled,
    )


def _state_counts(current: dict[str, StoredVersion], changes: PollChanges) -> tuple[int, int, int]:
    files = dirs = total = 0
    gone = {v.path for v in changes.removed}
    gone.update(old.path for old, _ in changes.modified)
    gone.update(old.path for old, _ in changes.moved)
    for path, v in current.items():
        if path in gone:
            continue
        if v.type == "file":
            files += 1
            total += v.size or 0
        else:
            dirs += 1
    for e in [*changes.added, *(e for _, e in changes.modified), *(e for _, e in changes.moved)]:
        if e.type == "file":
            files += 1
            total += e.size or 0
        else:
            dirs += 1
    return files, dirs, total


def _update_counts(conn: Connection, sid: int, result: PollResult) -> None:
    conn.execute(
        update(snapshot_t)
        .where(snapshot_t.c.id == sid)
        .values(
            files=result.files,
            dirs=result.dirs,
            total_bytes=result.total_bytes,
            added=result.added,
            removed=result.removed,
            modified=result.modified,
            moved=result.moved,
        )
    )


def _pack(listing: Listing) -> bytes:
    rows = [[e.path, e.type, e.size, e.mtime_ns, e.etag] for e in listing.entries]
    data = {
        "entries": rows,
        "failed": [asdict(f) for f in listing.failed_folders],
        "info": listing.info,
        "skipped": listing.skipped,
    }
    return zlib.compress(json.dumps(data, ensure_ascii=True).encode("ascii"), 6)


def _unpack(blob: bytes) -> Listing:
    data = json.loads(zlib.decompress(blob))
    return Listing(
        entries=[Entry(p, t, s, m, e) for p, t, s, m, e in data["entries"]],
        failed_folders=[FolderFailure(**f) for f in data["failed"]],
        info=data["info"],
        skipped=data["skipped"],
    )


def accept_snapshot(
    store: Store, snapshot_id: int, target: TargetConfig, *, actor: str, now: datetime
) -> PollResult:
    """Apply a held suspect snapshot because a person says its listing is right."""
    with store.write() as conn:
        snap = get_snapshot(conn, snapshot_id)
        tid = target_id(conn, target.name, lock=True)
        if snap.target_id != tid:
            raise MonitorError(f"snapshot {snapshot_id} is not of target {target.name!r}")
        if snap.status != "suspect" or snap.applied:
            raise MonitorError(f"snapshot {snapshot_id} is not a held suspect snapshot")
        held = _held_suspect(conn, tid)
        if held is None or held.id != snapshot_id or snap.held_listing is None:
            raise MonitorError(
                f"snapshot {snapshot_id} was superseded by a later poll; poll again instead"
            )
        listing = _unpack(snap.held_listing)
        current = current_versions(conn, tid)
        changes = compare(current, listing)
        baseline = latest_snapshot(conn, tid, applied_only=True) is None
        result = _apply(conn, tid, snapshot_id, target, changes, current, now, baseline=baseline)
        result.status = "suspect"
        conn.execute(
            update(snapshot_t)
            .where(snapshot_t.c.id == snapshot_id)
            .values(applied=True, held_listing=None, accepted_by=actor, accepted_at=now)
        )
        _update_counts(conn, snapshot_id, result)
        return result
