"""The daily digest: what each target did on one day, as an alert payload.

A day is midnight to midnight in the configured time zone; its changes are the diff between
the state at the end of the day before and at the end of the day (as ``monitor diff --day``).
A target first polled that day starts from its first snapshot (the baseline did not arrive).
Counts are of files (folders come and go with them); a failed or held snapshot is never a
boundary.
The daemon writes the digest of the day before at ``[notify] digest_at``;
``monitor digest --day D`` builds any day's by hand. Writing is idempotent: one digest per day.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, func, select

from monitor.alerts import (
    DigestBatch,
    DigestFolder,
    DigestHealth,
    DigestPayload,
    DigestTarget,
    alert_t,
    insert_alert,
)
from monitor.config import Settings, TargetConfig
from monitor.report import compute_diff
from monitor.store import Store
from monitor.store.models import Snapshot
from monitor.store.queries import (
    batch_t,
    day_bounds,
    get_snapshot,
    snapshot_at,
    snapshot_t,
    target_names,
)

#: Folders listed as the busiest of a target's day.
BUSIEST = 5
#: New batches listed per target (``batches_total`` counts them all).
MAX_BATCHES = 50


def digest_day(settings: Settings, now: datetime) -> date:
    """The day a digest written at ``now`` is about: the day before, in the configured zone."""
    return now.astimezone(settings.zone).date() - timedelta(days=1)


def build_digest(store: Store, settings: Settings, day: date) -> DigestPayload:
    """Every configured target's day: changes, new batches, health, busiest folders."""
    zone = settings.zone
    start, end = day_bounds(day, zone)
    with store.read() as conn:
        ids = {name: tid for tid, name in target_names(conn).items()}
        targets = [
            _target_day(conn, target, ids[target.name], start, end)
            if target.name in ids
            else _unpolled(target)
            for target in settings.targets
        ]
    return {
        "day": day.isoformat(),
        "timezone": settings.timezone,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "targets": targets,
        "empty": not any(_eventful(t) for t in targets),
    }


def enqueue_digest(store: Store, settings: Settings, day: date, *, now: datetime) -> int | None:
    """Write the digest of ``day`` to the outbox; None when it is empty and configured to be
    skipped. A digest already written for that day is not written again (its id is returned).
    """
    payload = build_digest(store, settings, day)
    if payload["empty"] and settings.notify.digest_empty == "skip":
        return None
    key = f"digest:{day.isoformat()}"
    with store.write() as conn:
        alert_id = insert_alert(conn, kind="digest", key=key, payload=payload, now=now)
        if alert_id is not None:
            return alert_id
        return int(conn.execute(select(alert_t.c.id).where(alert_t.c.key == key)).scalar_one())


def _eventful(day: DigestTarget) -> bool:
    health = day["health"]
    changes = day["added"] + day["removed"] + day["modified"] + day["moved"]
    return bool(changes or day["batches"] or health["failed"] or health["suspect"])


def _unpolled(target: TargetConfig) -> DigestTarget:
    return {
        "target": target.name,
        "added": 0,
        "removed": 0,
        "modified": 0,
        "moved": 0,
        "bytes_added": 0,
        "batches": [],
        "batches_total": 0,
        "health": _health_of(Counter(), None),
        "busiest": [],
    }


def _target_day(
    conn: Connection, target: TargetConfig, tid: int, start: datetime, end: datetime
) -> DigestTarget:
    before = _last_applied(conn, tid, start) or _first_applied(conn, tid, start, end)
    after = _last_applied(conn, tid, end)
    diff = compute_diff(conn, tid, before, after)
    added = [v for v in diff.added if v.type == "file"]
    arrived = added + [new for _, new in diff.modified if new.type == "file"]
    folders: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    for version in arrived:
        folder = version.path.rpartition("/")[0]
        folders[folder] += 1
        sizes[folder] += version.size or 0
    busiest: list[DigestFolder] = [
        {"folder": f, "files": n, "bytes": sizes[f]}
        for f, n in sorted(folders.items(), key=lambda item: (-item[1], item[0]))[:BUSIEST]
    ]
    batches = _batches_opened(conn, tid, start, end)
    statuses = Counter(
        str(s)
        for s in conn.execute(
            select(snapshot_t.c.status).where(
                snapshot_t.c.target_id == tid,
                snapshot_t.c.started_at >= start,
                snapshot_t.c.started_at < end,
            )
        ).scalars()
    )
    return {
        "target": target.name,
        "added": len(added),
        "removed": sum(1 for v in diff.removed if v.type == "file"),
        "modified": sum(1 for _, new in diff.modified if new.type == "file"),
        "moved": sum(1 for _, new in diff.moved if new.type == "file"),
        "bytes_added": sum(v.size or 0 for v in added),
        "batches": batches[:MAX_BATCHES],
        "batches_total": len(batches),
        "health": _health_of(statuses, snapshot_at(conn, tid, end - timedelta(microseconds=1))),
        "busiest": busiest,
    }


def _last_applied(conn: Connection, tid: int, moment: datetime) -> Snapshot | None:
    """The last applied snapshot started before ``moment``: a failed or held one has no state
    of its own (its id would read as "nothing yet" when it came first)."""
    last = conn.execute(
        select(func.max(snapshot_t.c.id)).where(
            snapshot_t.c.target_id == tid,
            snapshot_t.c.applied.is_(True),
            snapshot_t.c.status != "failed",
            snapshot_t.c.started_at < moment,
        )
    ).scalar_one()
    return None if last is None else get_snapshot(conn, int(last))


def _first_applied(conn: Connection, tid: int, start: datetime, end: datetime) -> Snapshot | None:
    """The baseline, when the target was first polled during the day."""
    first = conn.execute(
        select(func.min(snapshot_t.c.id)).where(
            snapshot_t.c.target_id == tid,
            snapshot_t.c.applied.is_(True),
            snapshot_t.c.status != "failed",
            snapshot_t.c.started_at >= start,
            snapshot_t.c.started_at < end,
        )
    ).scalar_one()
    return None if first is None else get_snapshot(conn, int(first))


def _batches_opened(
    conn: Connection, tid: int, start: datetime, end: datetime
) -> list[DigestBatch]:
    rows = conn.execute(
        select(batch_t)
        .where(batch_t.c.target_id == tid, batch_t.c.opened_at >= start, batch_t.c.opened_at < end)
        .order_by(batch_t.c.id)
    )
    return [
        {
            "batch": int(r.id),
            "folder": r.folder,
            "files": int(r.files),
            "bytes": int(r.total_bytes),
            "status": r.status,
            "review": r.review,
        }
        for r in rows
    ]


def _health_of(statuses: Counter[str], last: Snapshot | None) -> DigestHealth:
    return {
        "polls": sum(statuses.values()),
        "complete": statuses["complete"],
        "partial": statuses["partial"],
        "failed": statuses["failed"],
        "suspect": statuses["suspect"],
        "last_status": None if last is None else last.status,
        "last_poll_at": None if last is None else last.started_at.astimezone(UTC).isoformat(),
    }
