"""The tables. Versions are intervals: one row per distinct state of a path.

A version is valid from ``first_snapshot`` (the snapshot that first saw it) until
``gone_snapshot`` (the snapshot that saw it removed or changed), or still open when that is
NULL. An unchanged poll writes one snapshot row and nothing else.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, LargeBinary, Text, text
from sqlmodel import Field, SQLModel

from monitor.store.types import PathText, UTCDateTime

SNAPSHOT_STATUSES = ("complete", "partial", "failed", "suspect")
BATCH_STATUSES = ("open", "settled")
REVIEW_STATUSES = ("new", "reviewed", "flagged", "dismissed")


class Target(SQLModel, table=True):
    """A configured target as the database knows it (the config is the source of truth)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=64)
    kind: str = Field(max_length=16)
    created_at: datetime = Field(sa_type=UTCDateTime)


class Snapshot(SQLModel, table=True):
    """The recorded result of one poll."""

    id: int | None = Field(default=None, primary_key=True)
    target_id: int = Field(foreign_key="target.id", index=True)
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(max_length=16)
    #: False for a suspect snapshot that is held: its listing is kept but not applied.
    applied: bool = True
    error: str | None = Field(default=None, sa_type=Text)
    #: JSON list of {"path", "reason"} for folders whose listing failed.
    failed_folders: str | None = Field(default=None, sa_type=Text)
    #: JSON object of facts about the crawl (requests, bytes, server, ...).
    info: str | None = Field(default=None, sa_type=Text)
    files: int = Field(default=0, sa_type=BigInteger)
    dirs: int = Field(default=0, sa_type=BigInteger)
    total_bytes: int = Field(default=0, sa_type=BigInteger)
    skipped: int = Field(default=0, sa_type=BigInteger)
    added: int = Field(default=0, sa_type=BigInteger)
    removed: int = Field(default=0, sa_type=BigInteger)
    modified: int = Field(default=0, sa_type=BigInteger)
    moved: int = Field(default=0, sa_type=BigInteger)
    #: A held suspect listing, zlib-compressed JSON, until it is accepted or superseded.
    held_listing: bytes | None = Field(default=None, sa_type=LargeBinary)
    accepted_by: str | None = Field(default=None, max_length=200)
    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Version(SQLModel, table=True):
    """One state of one path, valid from first_snapshot until gone_snapshot."""

    __table_args__ = (
        Index("ix_version_target_first", "target_id", "first_snapshot"),
        Index("ix_version_target_gone", "target_id", "gone_snapshot"),
        Index("ix_version_target_path", "target_id", "path_key"),
        Index(
            "uq_version_open",
            "target_id",
            "path_key",
            unique=True,
            sqlite_where=text("gone_snapshot IS NULL"),
            postgresql_where=text("gone_snapshot IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    target_id: int = Field(foreign_key="target.id")
    path: str = Field(sa_type=PathText)
    #: A hash of the path for indexes: a path may be longer than a B-tree index row allows.
    path_key: str = Field(max_length=32)
    type: str = Field(max_length=4)
    size: int | None = Field(default=None, sa_type=BigInteger)
    mtime_ns: int | None = Field(default=None, sa_type=BigInteger)
    etag: str | None = Field(default=None, sa_type=Text)
    sha256: str | None = Field(default=None, max_length=64)
    first_snapshot: int = Field(foreign_key="snapshot.id")
    gone_snapshot: int | None = Field(default=None, foreign_key="snapshot.id")


class Batch(SQLModel, table=True):
    """New or changed files of one target that arrived together in one folder."""

    __table_args__ = (Index("ix_batch_target_status", "target_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    target_id: int = Field(foreign_key="target.id")
    folder: str = Field(sa_type=PathText)
    status: str = Field(default="open", max_length=16)
    review: str = Field(default="new", max_length=16, index=True)
    first_snapshot: int = Field(foreign_key="snapshot.id")
    last_snapshot: int = Field(foreign_key="snapshot.id")
    opened_at: datetime = Field(sa_type=UTCDateTime)
    last_change_at: datetime = Field(sa_type=UTCDateTime)
    settled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    files: int = Field(default=0, sa_type=BigInteger)
    total_bytes: int = Field(default=0, sa_type=BigInteger)
    reviewed_by: str | None = Field(default=None, max_length=200)
    reviewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    note: str | None = Field(default=None, sa_type=Text)


class BatchFile(SQLModel, table=True):
    """A file of a batch, pointing at its latest version within the batch."""

    __tablename__ = "batch_file"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    path: str = Field(sa_type=PathText)
    version_id: int = Field(foreign_key="version.id", index=True)
    change: str = Field(max_length=16)


class ReviewEvent(SQLModel, table=True):
    """One change of a batch's review status or note: the audit trail."""

    __tablename__ = "review_event"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    at: datetime = Field(sa_type=UTCDateTime)
    actor: str = Field(max_length=200)
    from_status: str = Field(max_length=16)
    to_status: str = Field(max_length=16)
    note: str | None = Field(default=None, sa_type=Text)


class Alert(SQLModel, table=True):
    """A message to send, written in the same transaction as what caused it (the outbox)."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=200)
    kind: str = Field(max_length=32)
    target_id: int | None = Field(default=None, foreign_key="target.id", index=True)
    snapshot_id: int | None = Field(default=None, foreign_key="snapshot.id")
    batch_id: int | None = Field(default=None, foreign_key="batch.id")
    created_at: datetime = Field(sa_type=UTCDateTime)
    payload: str = Field(sa_type=Text)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=Text)
    #: Not tried again before this time: a failed try backs off, a try in progress holds it.
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: JSON list of the channels that delivered it already (a retry skips them).
    delivered: str | None = Field(default=None, sa_type=Text)
    #: Set when the tries ran out: the alert stays in the table, unsent.
    gave_up_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


CAPTURE_STATUSES = ("complete", "failed", "changed", "skipped")


class Blob(SQLModel, table=True):
    """One archived body, stored once in the blob store under its SHA-256."""

    sha256: str = Field(primary_key=True, max_length=64)
    size: int = Field(sa_type=BigInteger)
    #: The type detected from the bytes (never from the name): a MIME type, and a description.
    mime: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=200)
    stored_at: datetime = Field(sa_type=UTCDateTime)
    #: When ``monitor verify`` last re-hashed it and found it intact.
    verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Capture(SQLModel, table=True):
    """One try to archive one version's body, with its provenance or why it failed.

    ``complete``: stored, ``sha256`` names the blob; ``failed``: the fetch failed (retried
    at ``next_attempt_at``); ``changed``: the body was not what the listing promised (size),
    retried; ``skipped``: the archive rules left it out (too big, quota), not retried.
    """

    __table_args__ = (Index("ix_capture_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    target_id: int = Field(foreign_key="target.id", index=True)
    version_id: int = Field(foreign_key="version.id", index=True)
    path: str = Field(sa_type=PathText)
    status: str = Field(max_length=16)
    sha256: str | None = Field(default=None, foreign_key="blob.sha256", index=True)
    #: Bytes received, and what the listing said the file holds.
    size: int | None = Field(default=None, sa_type=BigInteger)
    expected_size: int | None = Field(default=None, sa_type=BigInteger)
    url: str = Field(sa_type=Text)
    fetched_at: datetime = Field(sa_type=UTCDateTime)
    http_status: int | None = None
    #: JSON object of the response headers as received.
    headers: str | None = Field(default=None, sa_type=Text)
    ip: str | None = Field(default=None, max_length=64)
    tls_fingerprint: str | None = Field(default=None, max_length=100)
    error: str | None = Field(default=None, sa_type=Text)
    attempts: int = 1
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
