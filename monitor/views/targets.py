"""A target's page: its health, what changed on each day of a range, and its snapshots."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field
from sqlalchemy import Connection

from monitor.config import Settings
from monitor.store.models import Snapshot
from monitor.store.queries import failed_folders, held_snapshots
from monitor.views import _queries as vq
from monitor.views._common import (
    Moment,
    Page,
    View,
    check_paging,
    local,
    resolve_target,
)
from monitor.views.daily import DayCounts, day_counts
from monitor.views.dashboard import Health, target_health


class FailedFolder(View):
    """A folder whose listing failed in a poll (its old entries were carried forward)."""

    path: str = Field(description="The folder, relative to the target root ('' for the root).")
    reason: str = Field(description="Why it failed.")


class SnapshotRow(View):
    """One snapshot: the recorded result of one poll."""

    id: int = Field(description="Snapshot id.")
    status: str = Field(description="complete, partial, failed or suspect.")
    applied: bool = Field(description="False for a failed poll or a suspect listing still held.")
    held: bool = Field(description="A suspect listing still held, awaiting a decision.")
    started_at: Moment = Field(description="When the poll started.")
    finished_at: Moment = Field(description="When it was recorded.")
    seconds: float = Field(description="How long the poll took.")
    files: int = Field(description="Files the listing held.")
    dirs: int = Field(description="Folders the listing held.")
    bytes: int = Field(description="Bytes of the files.")
    skipped: int = Field(description="Entries left out by the target's include/exclude rules.")
    added: int = Field(description="Entries this poll added.")
    removed: int = Field(description="Entries this poll removed.")
    modified: int = Field(description="Entries this poll modified.")
    moved: int = Field(description="Entries this poll moved.")
    failed_folders: list[FailedFolder] = Field(description="Folders whose listing failed.")
    error: str | None = Field(description="Why the poll failed or was held.")
    info: dict[str, Any] = Field(description="Facts about the crawl (requests, bytes, server...).")
    accepted_by: str | None = Field(description="Who accepted a suspect listing.")
    accepted_at: Moment | None = Field(description="When it was accepted.")


class TargetPage(View):
    """A target's page."""

    name: str = Field(description="Target name.")
    kind: str = Field(description="Source kind.")
    configured: bool = Field(description="False: only the database knows it.")
    root: str | None = Field(description="The URL of the target's root (None: not configured).")
    timezone: str = Field(description="The zone days and times are in.")
    health: Health
    versions: int = Field(description="Versions stored for the target (every state of every path).")
    start: date = Field(description="The first day counted.")
    end: date = Field(description="The last day counted.")
    days: list[DayCounts] = Field(description="Changes per day, oldest first.")
    snapshots: Page[SnapshotRow] = Field(description="Snapshots, newest first.")


def target_page(
    conn: Connection,
    settings: Settings,
    name: str,
    *,
    now: datetime,
    zone: ZoneInfo,
    start: date | None = None,
    end: date | None = None,
    offset: int = 0,
    limit: int = 50,
) -> TargetPage:
    """Target ``name``: changes per day from ``start`` to ``end`` (default: the 30 days up to
    today) and a page of its snapshots, newest first."""
    check_paging(offset, limit)
    target = resolve_target(conn, settings, name)
    end = end or now.astimezone(zone).date()
    start = start or end - timedelta(days=29)
    days = day_counts(conn, target.id, start, end, zone)
    snaps: list[Snapshot] = []
    total, held = 0, set()
    if target.id is not None:
        snaps, total = vq.snapshot_page(conn, target.id, offset=offset, limit=limit)
        held = held_snapshots(conn, target.id)
    return TargetPage(
        name=target.name,
        kind=target.kind,
        configured=target.config is not None,
        root=target.url(""),
        timezone=zone.key,
        health=target_health(conn, target, now=now, zone=zone),
        versions=0 if target.id is None else vq.version_count(conn, target.id),
        start=start,
        end=end,
        days=days,
        snapshots=Page[SnapshotRow](
            items=[snapshot_row(s, zone, held=s.id in held) for s in snaps],
            total=total,
            offset=offset,
            limit=limit,
        ),
    )


def snapshot_row(snap: Snapshot, zone: ZoneInfo, *, held: bool) -> SnapshotRow:
    assert snap.id is not None
    info = json.loads(snap.info) if snap.info else {}
    return SnapshotRow(
        id=snap.id,
        status=snap.status,
        applied=snap.applied,
        held=held,
        started_at=snap.started_at.astimezone(zone),
        finished_at=snap.finished_at.astimezone(zone),
        seconds=(snap.finished_at - snap.started_at).total_seconds(),
        files=snap.files,
        dirs=snap.dirs,
        bytes=snap.total_bytes,
        skipped=snap.skipped,
        added=snap.added,
        removed=snap.removed,
        modified=snap.modified,
        moved=snap.moved,
        failed_folders=[
            FailedFolder(path=f.get("path", ""), reason=f.get("reason", ""))
            for f in failed_folders(snap)
        ],
        error=snap.error,
        info=info if isinstance(info, dict) else {"info": info},
        accepted_by=snap.accepted_by,
        accepted_at=local(snap.accepted_at, zone),
    )
