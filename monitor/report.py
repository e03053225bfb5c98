"""Diffs and states as plain data, in the shapes DESIGN.md promises to scripts.

An entry is ``{"path", "type", "size", "mtime", "url"}``; a diff is ``{"target", "from", "to",
"added", "removed", "modified", "moved", "summary"}``. The CLI prints these as JSON and the
web UI will render the same data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from monitor.diff import StateDiff, diff_states
from monitor.output import iso
from monitor.store.models import Snapshot
from monitor.store.queries import StoredVersion, versions_between

UrlFor = Callable[[str], str]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def mtime_of(version: StoredVersion) -> datetime | None:
    """The mtime as an aware datetime (microsecond precision; the ns value is kept in the DB)."""
    if version.mtime_ns is None:
        return None
    return _EPOCH + timedelta(microseconds=version.mtime_ns // 1000)


def entry(version: StoredVersion, url_for: UrlFor, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "path": version.path,
        "type": version.type,
        "size": version.size,
        "mtime": iso(mtime_of(version), zone),
        "url": url_for(version.path),
    }


def snapshot_ref(snapshot: Snapshot | None, zone: ZoneInfo) -> dict[str, Any]:
    if snapshot is None:
        return {"snapshot": None, "at": None}
    return {"snapshot": snapshot.id, "at": iso(snapshot.started_at, zone)}


def compute_diff(
    conn: Connection, target: int, before: Snapshot | None, after: Snapshot | None
) -> StateDiff:
    """The diff from the state at ``before`` to the state at ``after`` (None: nothing yet)."""
    a = before.id if before and before.id is not None else 0
    b = after.id if after and after.id is not None else 0
    if a == b:
        return StateDiff()
    if a > b:
        ended, started = versions_between(conn, target, b, a)
        return diff_states(ended, started).reversed()
    ended, started = versions_between(conn, target, a, b)
    return diff_states(ended, started)


def diff_report(
    target: str,
    before: Snapshot | None,
    after: Snapshot | None,
    diff: StateDiff,
    *,
    url_for: UrlFor,
    zone: ZoneInfo,
) -> dict[str, Any]:
    """The diff as DESIGN.md shapes it for ``monitor diff --format json``."""

    def e(v: StoredVersion) -> dict[str, Any]:
        return entry(v, url_for, zone)

    bytes_added = sum(v.size or 0 for v in diff.added if v.type == "file")
    return {
        "target": target,
        "from": snapshot_ref(before, zone),
        "to": snapshot_ref(after, zone),
        "added": [e(v) for v in diff.added],
        "removed": [e(v) for v in diff.removed],
        "modified": [
            {"path": new.path, "before": e(old), "after": e(new)} for old, new in diff.modified
        ],
        "moved": [{"from": old.path, "to": new.path, "entry": e(new)} for old, new in diff.moved],
        "summary": {
            "added": len(diff.added),
            "removed": len(diff.removed),
            "modified": len(diff.modified),
            "moved": len(diff.moved),
            "bytes_added": bytes_added,
        },
    }


def diff_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per change, for tables and CSV."""
    rows: list[dict[str, Any]] = []
    for item in report["added"]:
        rows.append({"change": "added", **item, "detail": ""})
    for item in report["removed"]:
        rows.append({"change": "removed", **item, "detail": ""})
    for item in report["modified"]:
        before, after = item["before"], item["after"]
        detail = _what_changed(before, after)
        rows.append({"change": "modified", **after, "detail": detail})
    for item in report["moved"]:
        rows.append({"change": "moved", **item["entry"], "detail": f"from {item['from']}"})
    return rows


def _what_changed(before: dict[str, Any], after: dict[str, Any]) -> str:
    parts = []
    if before["type"] != after["type"]:
        parts.append(f"{before['type']} -> {after['type']}")
    if before["size"] != after["size"]:
        parts.append(f"size {before['size']} -> {after['size']}")
    if before["mtime"] != after["mtime"]:
        parts.append("mtime")
    return ", ".join(parts) or "etag"
