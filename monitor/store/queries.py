"""The query layer: the one place besides the diff engine that knows how versions are stored.

The state at snapshot S is every version with ``first_snapshot <= S`` and ``gone_snapshot`` NULL
or ``> S``; the changes between snapshots A and B are the versions that end or start in
``(A, B]``. CLI and web UI read through these functions only.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table, and_, func, or_, select
from sqlalchemy.sql.schema import ScalarElementColumnDefault
from sqlmodel import SQLModel

from monitor.errors import NotFound, StoreError
from monitor.store.models import (
    Batch,
    BatchFile,
    ReviewEvent,
    Snapshot,
    Target,
)
from monitor.store.types import PathText, UTCDateTime, encode_path, path_key, stored_path_key

TABLES = SQLModel.metadata.tables
target_t: Table = TABLES["target"]
snapshot_t: Table = TABLES["snapshot"]
version_t: Table = TABLES["version"]
batch_t: Table = TABLES["batch"]
batch_file_t: Table = TABLES["batch_file"]
review_event_t: Table = TABLES["review_event"]
blob_t: Table = TABLES["blob"]
capture_t: Table = TABLES["capture"]


class HasEntryState(Protocol):
    """An entry as a source lists it (see :class:`monitor.sources.base.Entry`)."""

    @property
    def path(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def size(self) -> int | None: ...
    @property
    def mtime_ns(self) -> int | None: ...
    @property
    def etag(self) -> str | None: ...


class StoredVersion(NamedTuple):
    """One version row, as the diff engine and the query layer pass it around."""

    id: int
    path: str
    type: str
    size: int | None
    mtime_ns: int | None
    etag: str | None
    sha256: str | None
    first_snapshot: int
    gone_snapshot: int | None


VERSION_COLUMNS = [version_t.c[name] for name in StoredVersion._fields]


def _versions(rows: Iterable[Sequence[Any]]) -> list[StoredVersion]:
    return [StoredVersion(*row) for row in rows]


# -- targets -----------------------------------------------------------------------------------


def register_targets(conn: Connection, targets: Iterable[tuple[str, str]], now: datetime) -> None:
    """Make sure every configured (name, kind) has a row; existing rows are left alone."""
    rows = [{"name": name, "kind": kind, "created_at": now} for name, kind in targets]
    if not rows:
        return
    stmt = insert_or_ignore(conn, target_t).on_conflict_do_nothing(index_elements=["name"])
    conn.execute(stmt, rows)


def insert_or_ignore(conn: Connection, table: Table) -> Any:
    """An ``INSERT`` in ``conn``'s dialect, which has ``on_conflict_do_nothing``.

    The dialect modules are imported here, when needed: PostgreSQL's loads the modules of
    four drivers, a cost every command on SQLite would pay at start-up.
    """
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def target_id(conn: Connection, name: str, *, lock: bool = False) -> int:
    """The id of the target called ``name``; ``lock`` serialises writers of one target."""
    stmt = select(target_t.c.id).where(target_t.c.name == name)
    if lock and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    found = conn.execute(stmt).scalar()
    if found is None:
        raise NotFound(f"target {name!r} has never been polled")
    return int(found)


def list_targets(conn: Connection) -> list[Target]:
    return [Target.model_validate(r._mapping) for r in conn.execute(select(target_t))]


# -- snapshots ---------------------------------------------------------------------------------


def _snapshot(row: Any) -> Snapshot:
    return Snapshot.model_validate(dict(row._mapping))


def get_snapshot(conn: Connection, snapshot_id: int) -> Snapshot:
    row = conn.execute(select(snapshot_t).where(snapshot_t.c.id == snapshot_id)).first()
    if row is None:
        raise NotFound(f"no snapshot {snapshot_id}")
    return _snapshot(row)


def list_snapshots(conn: Connection, target: int, *, limit: int | None = None) -> list[Snapshot]:
    """Snapshots of a target, newest first."""
    stmt = (
        select(*[c for c in snapshot_t.c if c.name != "held_listing"])
        .where(snapshot_t.c.target_id == target)
        .order_by(snapshot_t.c.id.desc())
        .limit(limit)
    )
    return [_snapshot(r) for r in conn.execute(stmt)]


def held_snapshots(conn: Connection, target: int) -> set[int]:
    """Ids of the suspect snapshots still held (their listing kept, awaiting a decision)."""
    stmt = select(snapshot_t.c.id).where(
        snapshot_t.c.target_id == target, snapshot_t.c.held_listing.is_not(None)
    )
    return {int(i) for i in conn.execute(stmt).scalars()}


def latest_snapshot(
    conn: Connection, target: int, *, applied_only: bool = False
) -> Snapshot | None:
    stmt = select(snapshot_t).where(snapshot_t.c.target_id == target)
    if applied_only:
        stmt = stmt.where(snapshot_t.c.applied.is_(True))
    row = conn.execute(stmt.order_by(snapshot_t.c.id.desc()).limit(1)).first()
    return None if row is None else _snapshot(row)


def snapshot_at(conn: Connection, target: int, when: datetime) -> Snapshot | None:
    """The last snapshot of ``target`` taken at or before ``when`` (None: before the first)."""
    stmt = (
        select(snapshot_t)
        .where(snapshot_t.c.target_id == target, snapshot_t.c.started_at <= when)
        .order_by(snapshot_t.c.id.desc())
        .limit(1)
    )
    row = conn.execute(stmt).first()
    return None if row is None else _snapshot(row)


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Midnight starting ``day`` and midnight ending it, in ``zone``."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start, end


def failed_folders(snapshot: Snapshot) -> list[dict[str, str]]:
    return list(json.loads(snapshot.failed_folders)) if snapshot.failed_folders else []


# -- versions ----------------------------------------------------------------------------------


def current_versions(conn: Connection, target: int) -> dict[str, StoredVersion]:
    """The open version of every path of ``target``, by path."""
    stmt = select(*VERSION_COLUMNS).where(
        version_t.c.target_id == target, version_t.c.gone_snapshot.is_(None)
    )
    return {v.path: v for v in _versions(conn.execute(stmt))}


def open_paths(conn: Connection, target: int, paths: Iterable[str]) -> set[str]:
    """Which of ``paths`` the target has now."""
    wanted = list(paths)
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        stmt = select(version_t.c.path).where(
            version_t.c.target_id == target,
            version_t.c.gone_snapshot.is_(None),
            version_t.c.path_key.in_([path_key(p) for p in wanted[start : start + 500]]),
        )
        found.update(conn.execute(stmt).scalars())
    return found & set(wanted)


#: Rows per INSERT batch, each sorted by path key: the two path-key indexes then grow in order
#: instead of at random (a 100,000-file first poll: 1.5 s -> 1.05 s on SQLite).
_CHUNK = 50_000
_VERSION_INSERT_COLUMNS = (
    "target_id",
    "path",
    "path_key",
    "type",
    "size",
    "mtime_ns",
    "etag",
    "first_snapshot",
)


def insert_versions(
    conn: Connection, target: int, snapshot_id: int, entries: Sequence[HasEntryState]
) -> None:
    """Open a version for each entry at ``snapshot_id`` (:func:`opened_at` reads their ids).

    Rows go in sorted chunks (memory stays bounded) straight to the driver: SQLAlchemy's
    per-row parameter handling cost as much as SQLite's own work on a 100,000-file first poll.
    PostgreSQL gets them through COPY, several times faster than row-by-row INSERTs.
    """
    if not entries:
        return
    if conn.dialect.name == "postgresql":
        _copy_versions(conn, target, snapshot_id, entries)
        return
    raw = conn.connection.driver_connection
    assert raw is not None, "an open connection has a driver connection"
    sql = (
        f"INSERT INTO version ({', '.join(_VERSION_INSERT_COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(_VERSION_INSERT_COLUMNS))})"
    )
    cursor = raw.cursor()
    try:
        for start in range(0, len(entries), _CHUNK):
            rows = list(_version_rows(target, snapshot_id, entries[start : start + _CHUNK]))
            rows.sort(key=_by_key)
            cursor.executemany(sql, rows)
    except sqlite3.Error as exc:
        raise StoreError(f"database error while writing versions: {exc}") from exc
    finally:
        cursor.close()


def insert_rows(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], *, ignore: bool = False
) -> None:
    """Insert ``rows`` (dicts of the table's columns, all with the same keys); with
    ``ignore``, a row whose key is there already is left out.

    On SQLite the rows go straight to the driver, each value as the column's type stores it
    (SQLAlchemy's per-row handling costs ~50 microseconds, ten times SQLite's own work for a
    short row); elsewhere through SQLAlchemy.
    """
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        stmt = insert_or_ignore(conn, table).on_conflict_do_nothing() if ignore else None
        conn.execute(stmt if stmt is not None else table.insert(), rows)
        return
    names = list(rows[0])
    # Columns left out get their scalar defaults, as SQLAlchemy's inserts give them.
    defaults = {
        c.name: c.default.arg
        for c in table.columns
        if c.name not in rows[0] and isinstance(c.default, ScalarElementColumnDefault)
    }
    if defaults:
        rows = [{**defaults, **row} for row in rows]
        names += list(defaults)
    bind = [_sqlite_bind(table.c[name].type) for name in names]
    sql = (
        f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        f"{' ON CONFLICT DO NOTHING' if ignore else ''}"
    )
    values = [
        tuple(
            v if f is None else f(v) for f, v in zip(bind, map(row.__getitem__, names), strict=True)
        )
        for row in rows
    ]
    raw = conn.connection.driver_connection
    assert raw is not None, "an open connection has a driver connection"
    try:
        raw.executemany(sql, values)
    except sqlite3.Error as exc:
        raise StoreError(f"database error while writing {table.name} rows: {exc}") from exc


def _sqlite_bind(kind: Any) -> Callable[[Any], Any] | None:
    """How a value of column type ``kind`` is stored in SQLite (None: as it is)."""
    if isinstance(kind, UTCDateTime):
        return _sqlite_time
    if isinstance(kind, PathText):
        return _nullable(encode_path)
    return None


def _sqlite_time(value: datetime | None) -> str | None:
    """An aware datetime as :class:`UTCDateTime` keeps it in SQLite: naive UTC text, as
    SQLAlchemy's SQLite ``DATETIME`` writes it."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given where an aware one is required")
    v = value.astimezone(UTC)
    return (
        f"{v.year:04d}-{v.month:02d}-{v.day:02d} "
        f"{v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}"
    )


def _nullable(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else function(value)


def _by_key(row: tuple[object, ...]) -> str:
    return str(row[2])


def _version_rows(
    target: int, snapshot_id: int, entries: Sequence[HasEntryState]
) -> Iterator[tuple[object, ...]]:
    for e in entries:
        stored = encode_path(e.path)
        yield (
            target,
            stored,
            stored_path_key(stored),
            e.type,
            e.size,
            e.mtime_ns,
            e.etag,
            snapshot_id,
        )


def opened_at(conn: Connection, target: int, snapshot_id: int) -> dict[str, int]:
    """The ids of the versions ``snapshot_id`` opened, by path."""
    found = conn.execute(
        select(version_t.c.path, version_t.c.id).where(
            version_t.c.target_id == target, version_t.c.first_snapshot == snapshot_id
        )
    )
    return {path: int(vid) for path, vid in found}


def _copy_versions(
    conn: Connection, target: int, snapshot_id: int, entries: Sequence[HasEntryState]
) -> None:
    import psycopg

    raw = conn.connection.driver_connection
    assert raw is not None, "an open connection has a driver connection"
    columns = ", ".join(_VERSION_INSERT_COLUMNS)
    try:
        with raw.cursor() as cursor, cursor.copy(f"COPY version ({columns}) FROM STDIN") as copy:
            for row in _version_rows(target, snapshot_id, entries):
                copy.write_row(row)
    except psycopg.Error as exc:
        raise StoreError(f"database error while writing versions: {exc}") from exc


def _alive_at(snapshot_id: int) -> Any:
    return and_(
        version_t.c.first_snapshot <= snapshot_id,
        or_(version_t.c.gone_snapshot.is_(None), version_t.c.gone_snapshot > snapshot_id),
    )


def state_at(conn: Connection, target: int, snapshot_id: int) -> list[StoredVersion]:
    """Every entry of ``target`` as snapshot ``snapshot_id`` saw it, sorted by path."""
    stmt = (
        select(*VERSION_COLUMNS)
        .where(version_t.c.target_id == target, _alive_at(snapshot_id))
        .order_by(version_t.c.path)
    )
    return _versions(conn.execute(stmt))


@dataclass(slots=True)
class VersionSpan:
    """A version with the times of the snapshots that opened and closed it."""

    version: StoredVersion
    seen_at: datetime
    gone_at: datetime | None


def history(conn: Connection, target: int, path: str) -> list[VersionSpan]:
    """Every version ``path`` had, oldest first."""
    first = snapshot_t.alias("first")
    gone = snapshot_t.alias("gone")
    stmt = (
        select(*VERSION_COLUMNS, first.c.started_at, gone.c.started_at)
        .join(first, first.c.id == version_t.c.first_snapshot)
        .outerjoin(gone, gone.c.id == version_t.c.gone_snapshot)
        .where(
            version_t.c.target_id == target,
            version_t.c.path_key == path_key(path),
            version_t.c.path == path,
        )
        .order_by(version_t.c.first_snapshot)
    )
    return [VersionSpan(StoredVersion(*row[:9]), row[9], row[10]) for row in conn.execute(stmt)]


def versions_between(
    conn: Connection, target: int, after: int, upto: int
) -> tuple[list[StoredVersion], list[StoredVersion]]:
    """Versions alive at ``after`` but not at ``upto``, and alive at ``upto`` but not ``after``.

    ``after`` may be 0 (before the first snapshot). Versions that started and ended between the
    two are transient and left out.
    """
    base = select(*VERSION_COLUMNS).where(version_t.c.target_id == target)
    ended = base.where(
        version_t.c.gone_snapshot > after,
        version_t.c.gone_snapshot <= upto,
        version_t.c.first_snapshot <= after,
    )
    started = base.where(
        version_t.c.first_snapshot > after,
        version_t.c.first_snapshot <= upto,
        or_(version_t.c.gone_snapshot.is_(None), version_t.c.gone_snapshot > upto),
    )
    order = version_t.c.path
    return (
        _versions(conn.execute(ended.order_by(order))),
        _versions(conn.execute(started.order_by(order))),
    )


# -- batches -----------------------------------------------------------------------------------


def get_batch(conn: Connection, batch_id: int) -> Batch:
    row = conn.execute(select(batch_t).where(batch_t.c.id == batch_id)).first()
    if row is None:
        raise NotFound(f"no batch {batch_id}")
    return Batch.model_validate(dict(row._mapping))


def list_batches(
    conn: Connection,
    *,
    target: int | None = None,
    status: str | None = None,
    review: str | None = None,
    limit: int | None = None,
) -> list[Batch]:
    """Batches, newest first, optionally of one target, status or review status."""
    stmt = select(batch_t).order_by(batch_t.c.id.desc()).limit(limit)
    if target is not None:
        stmt = stmt.where(batch_t.c.target_id == target)
    if status is not None:
        stmt = stmt.where(batch_t.c.status == status)
    if review is not None:
        stmt = stmt.where(batch_t.c.review == review)
    return [Batch.model_validate(dict(r._mapping)) for r in conn.execute(stmt)]


def batch_files(conn: Connection, batch_id: int) -> list[tuple[BatchFile, StoredVersion]]:
    """A batch's files with the version each points at, by path."""
    stmt = (
        select(batch_file_t, *VERSION_COLUMNS)
        .join(version_t, version_t.c.id == batch_file_t.c.version_id)
        .where(batch_file_t.c.batch_id == batch_id)
        .order_by(batch_file_t.c.path)
    )
    width = len(batch_file_t.c)
    return [
        (
            BatchFile.model_validate(dict(zip(batch_file_t.c.keys(), row[:width], strict=True))),
            StoredVersion(*row[width:]),
        )
        for row in conn.execute(stmt)
    ]


def biggest_batch_files(
    conn: Connection, batch_id: int, *, limit: int
) -> list[tuple[str, StoredVersion]]:
    """A batch's ``limit`` biggest files (then by path): (change, version) pairs."""
    stmt = (
        select(batch_file_t.c.change, *VERSION_COLUMNS)
        .join(version_t, version_t.c.id == batch_file_t.c.version_id)
        .where(batch_file_t.c.batch_id == batch_id)
        .order_by(func.coalesce(version_t.c.size, 0).desc(), version_t.c.path)
        .limit(limit)
    )
    return [(str(row[0]), StoredVersion(*row[1:])) for row in conn.execute(stmt)]


def review_events(conn: Connection, batch_id: int) -> list[ReviewEvent]:
    stmt = (
        select(review_event_t)
        .where(review_event_t.c.batch_id == batch_id)
        .order_by(review_event_t.c.id)
    )
    return [ReviewEvent.model_validate(dict(r._mapping)) for r in conn.execute(stmt)]


def target_names(conn: Connection) -> dict[int, str]:
    return {int(i): str(n) for i, n in conn.execute(select(target_t.c.id, target_t.c.name))}


def count_versions(conn: Connection, target: int) -> int:
    stmt = select(func.count()).select_from(version_t).where(version_t.c.target_id == target)
    return int(conn.execute(stmt).scalar_one())
