"""Alerts: what each kind says, and writing them to the outbox in the poll's own transaction.

An alert is a row of the ``alert`` table (the outbox): a ``kind``, a unique ``key`` that makes
writing it twice impossible (so a retried or repeated transaction never alerts twice), the
target, snapshot and batch it is about, and a JSON ``payload`` that holds everything a
message needs, so a message can be rendered long after the poll, from the row alone.
Sending is :mod:`monitor.notify`'s job.

Kinds and their payloads (every payload also has ``"target"``, the target's name, except the
digest; times are ISO 8601 strings with offset, sizes in bytes):

``batch_settled``  a batch is complete and quiet: :class:`BatchPayload`
``watch``          files matching a watch rule arrived: :class:`WatchPayload`
``down``           ``down_after`` consecutive failed polls: :class:`DownPayload`
``recovered``      the first good poll after a ``down`` alert: :class:`RecoveredPayload`
``suspect``        a snapshot was held as suspect: :class:`SuspectPayload`
``stale``          no new file for ``stale_after``: :class:`StalePayload`
``digest``         the daily digest: :class:`DigestPayload` (built by :mod:`monitor.digest`)
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypedDict
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table, func, select

from monitor.config import TargetConfig, WatchRule
from monitor.output import human_duration, iso, to_json
from monitor.report import UrlFor
from monitor.sources.local import GlobSet
from monitor.store.queries import (
    TABLES,
    HasEntryState,
    batch_t,
    biggest_batch_files,
    get_batch,
    insert_or_ignore,
    snapshot_t,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UTC_ZONE = ZoneInfo("UTC")

AlertKind = Literal["batch_settled", "watch", "down", "recovered", "suspect", "stale", "digest"]
ALERT_KINDS: tuple[AlertKind, ...] = (
    "batch_settled",
    "watch",
    "down",
    "recovered",
    "suspect",
    "stale",
    "digest",
)


class FileItem(TypedDict):
    """One file an alert names (``change``: ``added`` or ``modified``)."""

    path: str
    size: int | None
    mtime: str | None
    change: str
    url: str | None


class BatchPayload(TypedDict):
    target: str
    batch: int
    folder: str  # "" for the target's root
    files: int
    bytes: int
    opened_at: str
    settled_at: str
    review: str
    items: list[FileItem]  # at most [notify] max_files, biggest first
    more: int  # files not in items


class WatchPayload(TypedDict):
    target: str
    rule: str
    snapshot: int
    at: str
    items: list[FileItem]
    more: int


class DownPayload(TypedDict):
    target: str
    snapshot: int
    failures: int  # consecutive failed polls
    since: str  # when the first of them started
    error: str


class RecoveredPayload(TypedDict):
    target: str
    snapshot: int
    failures: int  # how many polls had failed in a row
    down_since: str
    at: str


class SuspectPayload(TypedDict):
    target: str
    snapshot: int
    at: str
    removed: int  # files the held listing lost
    files_before: int
    reason: str


class StalePayload(TypedDict):
    target: str
    snapshot: int
    last_arrival: str | None  # when a new file last arrived (None: never)
    quiet_for: str  # the configured stale_after, as "7d" / "36h"


class DigestBatch(TypedDict):
    batch: int
    folder: str
    files: int
    bytes: int
    status: str  # open / settled
    review: str  # new / reviewed / flagged / dismissed


class DigestFolder(TypedDict):
    folder: str
    files: int  # files added or modified under it that day
    bytes: int


class DigestHealth(TypedDict):
    polls: int
    complete: int
    partial: int
    failed: int
    suspect: int
    last_status: str | None
    last_poll_at: str | None


class DigestTarget(TypedDict):
    """One target's day; change counts are of files."""

    target: str
    added: int
    removed: int
    modified: int
    moved: int
    bytes_added: int
    batches: list[DigestBatch]  # batches opened that day, the first 50
    batches_total: int  # all batches opened that day
    health: DigestHealth
    busiest: list[DigestFolder]  # at most 5, most files first


class DigestPayload(TypedDict):
    day: str  # YYYY-MM-DD in the configured time zone
    timezone: str
    start: str
    end: str
    targets: list[DigestTarget]
    empty: bool  # no target changed, failed or opened a batch that day


# --- writing alerts (inside the poll's transaction) ---------------------------------------------

#: Files a payload names at most; the renderer cuts further at ``[notify] max_files``.
MAX_ITEMS = 1000

log = logging.getLogger(__name__)
alert_t: Table = TABLES["alert"]


def insert_alert(
    conn: Connection,
    *,
    kind: AlertKind,
    key: str,
    payload: Mapping[str, Any],
    now: datetime,
    target_id: int | None = None,
    snapshot_id: int | None = None,
    batch_id: int | None = None,
) -> int | None:
    """Write one alert unless one with ``key`` exists; return its id (None: it existed).

    ``INSERT ... ON CONFLICT DO NOTHING``: two writers of the same key (the daemon and
    ``monitor digest --send``) never fail on each other; one row wins.
    """
    stmt = (
        insert_or_ignore(conn, alert_t)
        .values(
            key=key,
            kind=kind,
            target_id=target_id,
            snapshot_id=snapshot_id,
            batch_id=batch_id,
            created_at=now,
            payload=to_json(dict(payload)),
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(alert_t.c.id)
    )
    alert_id = conn.execute(stmt).scalar()
    if alert_id is None:
        return None
    log.info("alert %d: %s %s", alert_id, kind, key)
    return int(alert_id)


def file_item(entry: HasEntryState, change: str, url_for: UrlFor) -> FileItem:
    return {
        "path": entry.path,
        "size": entry.size,
        "mtime": iso(_moment(entry.mtime_ns), _UTC_ZONE),
        "change": change,
        "url": url_for(entry.path),
    }


def _moment(mtime_ns: int | None) -> datetime | None:
    if mtime_ns is None:
        return None
    return _EPOCH + timedelta(microseconds=mtime_ns // 1000)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


@functools.lru_cache(maxsize=256)
def _glob(pattern: str) -> GlobSet:
    return GlobSet.from_patterns([pattern], setting=f"watch rule glob {pattern!r}")


def matches(rule: WatchRule, entry: HasEntryState) -> bool:
    """Whether a file meets every condition ``rule`` gives."""
    path = entry.path
    if rule.glob is not None and not _glob(rule.glob).matches(path, is_dir=False):
        return False
    if rule.regex is not None and re.search(rule.regex, path) is None:
        return False
    if rule.min_size is not None and (entry.size is None or entry.size < rule.min_size):
        return False
    name = path.rpartition("/")[2].lower()
    return not rule.types or any(name.endswith("." + t) for t in rule.types)


#: A file that a snapshot brought: the entry, how it came (added / modified / moved), and the
#: entry it replaced (a modified file's old state, a moved file's old path), if any.
Arrived = tuple[HasEntryState, str, HasEntryState | None]


def watch_hits(
    conn: Connection,
    *,
    target: TargetConfig,
    target_id: int,
    snapshot_id: int,
    arrivals: Sequence[Arrived],
    url_for: UrlFor,
    now: datetime,
) -> list[int]:
    """One ``watch`` alert per rule that files of this snapshot meet and did not meet before.

    A file that grows or is touched while it keeps meeting a rule alerts once, not at every
    poll; a file renamed into a rule (an upload's temporary name) alerts when it gets there.
    """
    ids: list[int] = []
    for rule in target.watch:
        hits = [
            (e, change)
            for e, change, before in arrivals
            if matches(rule, e) and (before is None or not matches(rule, before))
        ]
        if not hits:
            continue
        hits.sort(key=lambda hit: (-(hit[0].size or 0), hit[0].path))
        payload: WatchPayload = {
            "target": target.name,
            "rule": rule.name,
            "snapshot": snapshot_id,
            "at": _stamp(now),
            "items": [file_item(e, change, url_for) for e, change in hits[:MAX_ITEMS]],
            "more": max(0, len(hits) - MAX_ITEMS),
        }
        key = f"watch:{snapshot_id}:{rule.name}"
        alert_id = insert_alert(
            conn, kind="watch", key=key, payload=payload, now=now,
            target_id=target_id, snapshot_id=snapshot_id,
        )  # fmt: skip
        ids += [alert_id] if alert_id is not None else []
    return ids


def batches_settled(
    conn: Connection,
    *,
    target: TargetConfig,
    snapshot_id: int,
    batch_ids: Iterable[int],
    url_for: UrlFor,
    now: datetime,
) -> list[int]:
    """One ``batch_settled`` alert per batch this snapshot settled."""
    ids: list[int] = []
    for batch_id in batch_ids:
        batch = get_batch(conn, batch_id)
        biggest = biggest_batch_files(conn, batch_id, limit=MAX_ITEMS)
        items = [file_item(v, change, url_for) for change, v in biggest]
        more = max(0, batch.files - len(items))
        payload: BatchPayload = {
            "target": target.name,
            "batch": batch_id,
            "folder": batch.folder,
            "files": batch.files,
            "bytes": batch.total_bytes,
            "opened_at": _stamp(batch.opened_at),
            "settled_at": _stamp(batch.settled_at or now),
            "review": batch.review,
            "items": items,
            "more": more,
        }
        alert_id = insert_alert(
            conn, kind="batch_settled", key=f"batch:{batch_id}", payload=payload, now=now,
            target_id=batch.target_id, snapshot_id=snapshot_id, batch_id=batch_id,
        )  # fmt: skip
        ids += [alert_id] if alert_id is not None else []
    return ids


def suspect_held(
    conn: Connection,
    *,
    target: TargetConfig,
    target_id: int,
    snapshot_id: int,
    removed: int,
    files_before: int,
    reason: str,
    now: datetime,
) -> int | None:
    payload: SuspectPayload = {
        "target": target.name,
        "snapshot": snapshot_id,
        "at": _stamp(now),
        "removed": removed,
        "files_before": files_before,
        "reason": reason,
    }
    return insert_alert(
        conn, kind="suspect", key=f"suspect:{snapshot_id}", payload=payload, now=now,
        target_id=target_id, snapshot_id=snapshot_id,
    )  # fmt: skip


def _failure_streak(conn: Connection, target_id: int, upto: int) -> list[tuple[int, datetime]]:
    """The failed snapshots just before and including ``upto``, since the last that was not."""
    last_good = conn.execute(
        select(func.max(snapshot_t.c.id)).where(
            snapshot_t.c.target_id == target_id,
            snapshot_t.c.id <= upto,
            snapshot_t.c.status != "failed",
        )
    ).scalar_one()
    rows = conn.execute(
        select(snapshot_t.c.id, snapshot_t.c.started_at)
        .where(
            snapshot_t.c.target_id == target_id,
            snapshot_t.c.id <= upto,
            snapshot_t.c.id > (last_good or 0),
        )
        .order_by(snapshot_t.c.id)
    )
    return [(int(r.id), r.started_at) for r in rows]


def poll_failed(
    conn: Connection,
    *,
    target: TargetConfig,
    target_id: int,
    snapshot_id: int,
    error: str,
    now: datetime,
) -> int | None:
    """A ``down`` alert when this failed poll makes ``down_after`` failures in a row."""
    streak = _failure_streak(conn, target_id, snapshot_id)
    if len(streak) < target.down_after:
        return None
    first, since = streak[0]
    payload: DownPayload = {
        "target": target.name,
        "snapshot": snapshot_id,
        "failures": len(streak),
        "since": _stamp(since),
        "error": error,
    }
    return insert_alert(
        conn, kind="down", key=f"down:{target_id}:{first}", payload=payload, now=now,
        target_id=target_id, snapshot_id=snapshot_id,
    )  # fmt: skip


def poll_succeeded(
    conn: Connection, *, target: TargetConfig, target_id: int, snapshot_id: int, now: datetime
) -> int | None:
    """A ``recovered`` alert when the failures just before this poll had raised ``down``."""
    streak = _failure_streak(conn, target_id, snapshot_id - 1)
    if not streak:
        return None
    first, since = streak[0]
    down = conn.execute(
        select(alert_t.c.id).where(alert_t.c.key == f"down:{target_id}:{first}")
    ).first()
    if down is None:
        return None
    payload: RecoveredPayload = {
        "target": target.name,
        "snapshot": snapshot_id,
        "failures": len(streak),
        "down_since": _stamp(since),
        "at": _stamp(now),
    }
    return insert_alert(
        conn, kind="recovered", key=f"recovered:{target_id}:{first}", payload=payload, now=now,
        target_id=target_id, snapshot_id=snapshot_id,
    )  # fmt: skip


def check_stale(
    conn: Connection, *, target: TargetConfig, target_id: int, snapshot_id: int, now: datetime
) -> int | None:
    """A ``stale`` alert once per quiet spell longer than ``stale_after``.

    The spell starts at the last arrival (a batch's last change) or, when nothing ever
    arrived, at the target's first applied snapshot.
    """
    if target.stale_after is None:
        return None
    last = conn.execute(
        select(func.max(batch_t.c.last_change_at)).where(batch_t.c.target_id == target_id)
    ).scalar_one()
    since = last
    if since is None:
        since = conn.execute(
            select(func.min(snapshot_t.c.started_at)).where(
                snapshot_t.c.target_id == target_id, snapshot_t.c.applied.is_(True)
            )
        ).scalar_one()
    if since is None or now - _aware(since) < target.stale_after:
        return None
    payload: StalePayload = {
        "target": target.name,
        "snapshot": snapshot_id,
        "last_arrival": None if last is None else _stamp(_aware(last)),
        "quiet_for": human_duration(target.stale_after),
    }
    key = f"stale:{target_id}:{_stamp(_aware(since))}"
    return insert_alert(
        conn, kind="stale", key=key, payload=payload, now=now,
        target_id=target_id, snapshot_id=snapshot_id,
    )  # fmt: skip


def _aware(moment: datetime) -> datetime:
    """Aggregates (max, min) skip the column type's conversion on SQLite: naive means UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
