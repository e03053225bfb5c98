"""One realistic payload per alert kind (the shapes of :mod:`monitor.alerts`), for the tests."""

from __future__ import annotations

from typing import Any

from monitor.alerts import (
    BatchPayload,
    DigestPayload,
    DownPayload,
    FileItem,
    RecoveredPayload,
    StalePayload,
    SuspectPayload,
    WatchPayload,
)

HOSTILE_NAMES = [
    "<script>alert(1)</script>.pdf",
    "\"&'quotes'&amp;.txt",
    "line\nBcc: victim@example.org\r\nSubject: injected.txt",
    "evil\u202egnp.exe",
    "契約書_最終版.docx",
    "x" * 300,
    "bad\udcffbyte.bin",
]


def item(path: str, size: int | None = 1000, change: str = "added") -> FileItem:
    return {
        "path": path,
        "size": size,
        "mtime": "2026-11-23T09:12:00+00:00",
        "change": change,
        "url": None,
    }


def batch(**kw: Any) -> BatchPayload:
    payload: BatchPayload = {
        "target": "studio-drop",
        "batch": 12,
        "folder": "ep02/sc901",
        "files": 143,
        "bytes": 2_100_000_000,
        "opened_at": "2026-11-23T08:00:00+00:00",
        "settled_at": "2026-11-23T11:30:00+00:00",
        "review": "new",
        "items": [item("ep02/sc901/plate_0001.exr", 48_000_000)],
        "more": 142,
    }
    return {**payload, **kw}  # type: ignore[typeddict-item]


def watch(**kw: Any) -> WatchPayload:
    payload: WatchPayload = {
        "target": "studio-drop",
        "rule": "contracts",
        "snapshot": 40,
        "at": "2026-11-23T10:00:00+00:00",
        "items": [item("legal/a.pdf"), item("legal/b.pdf"), item("legal/c.pdf", change="modified")],
        "more": 0,
    }
    return {**payload, **kw}  # type: ignore[typeddict-item]


def down(**kw: Any) -> DownPayload:
    payload: DownPayload = {
        "target": "studio-drop",
        "snapshot": 41,
        "failures": 3,
        "since": "2026-11-23T09:00:00+00:00",
        "error": "connection refused",
    }
    return {**payload, **kw}  # type: ignore[typeddict-item]


def recovered(**kw: Any) -> RecoveredPayload:
    payload: RecoveredPayload = {
        "target": "studio-drop",
        "snapshot": 45,
        "failures": 3,
        "down_since": "2026-11-23T09:00:00+00:00",
        "at": "2026-11-23T12:00:00+00:00",
    }
    return {**payload, **kw}  # type: ignore[typeddict-item]


def suspect(**kw: Any) -> SuspectPayload:
    payload: SuspectPayload = {
        "target": "studio-drop",
        "snapshot": 42,
        "at": "2026-11-23T10:30:00+00:00",
        "removed": 912,
        "files_before": 1000,
        "reason": "91% of the files vanished at once (max_removed_ratio 0.5)",
    }
    return {**payload, **kw}  # type: ignore[typeddict-item]


def stale(**kw: Any) -> StalePayload:
    payload: StalePayload = {
        "target": "studio-drop",
        "snapshot": 43,
        "last_arrival": "2026-11-16T08:00:00+00:00",
        "quiet_for": "7d",
    }
    return {**payload, **kw}  # type: ignore[typeddict-item]


def digest(*, empty: bool = False) -> DigestPayload:
    health = {
        "polls": 48,
        "complete": 46,
        "partial": 1,
        "failed": 1,
        "suspect": 0,
        "last_status": "complete",
        "last_poll_at": "2026-11-23T22:30:00+00:00",
    }
    quiet = {**health, "partial": 0, "failed": 0, "complete": 48}
    targets: list[Any] = [
        {
            "target": "studio-drop",
            "added": 143,
            "removed": 2,
            "modified": 5,
            "moved": 1,
            "bytes_added": 2_100_000_000,
            "batches": [
                {
                    "batch": 12,
                    "folder": "ep02/sc901",
                    "files": 140,
                    "bytes": 2_000_000_000,
                    "status": "settled",
                    "review": "new",
                },
                {
                    "batch": 13,
                    "folder": "ep02/sc902",
                    "files": 3,
                    "bytes": 100_000_000,
                    "status": "open",
                    "review": "flagged",
                },
            ],
            "health": health,
            "busiest": [{"folder": "ep02/sc901", "files": 140, "bytes": 2_000_000_000}],
        },
        {
            "target": "vendor-ftp",
            "added": 0,
            "removed": 0,
            "modified": 0,
            "moved": 0,
            "bytes_added": 0,
            "batches": [],
            "health": quiet,
            "busiest": [],
        },
    ]
    if empty:
        for target in targets:
            target.update(added=0, removed=0, modified=0, moved=0, bytes_added=0)
            target.update(batches=[], busiest=[], health=quiet)
    return {
        "day": "2026-11-23",
        "timezone": "Europe/Paris",
        "start": "2026-11-23T00:00:00+01:00",
        "end": "2026-11-24T00:00:00+01:00",
        "targets": targets,
        "empty": empty,
    }


PAYLOADS: dict[str, Any] = {
    "batch_settled": batch(),
    "watch": watch(),
    "down": down(),
    "recovered": recovered(),
    "suspect": suspect(),
    "stale": stale(),
    "digest": digest(),
}
