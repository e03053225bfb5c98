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

from typing import Literal, TypedDict

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
    target: str
    added: int
    removed: int
    modified: int
    moved: int
    bytes_added: int
    batches: list[DigestBatch]  # batches opened that day
    health: DigestHealth
    busiest: list[DigestFolder]  # at most 5, most files first


class DigestPayload(TypedDict):
    day: str  # YYYY-MM-DD in the configured time zone
    timezone: str
    start: str
    end: str
    targets: list[DigestTarget]
    empty: bool  # no target changed, failed or opened a batch that day
