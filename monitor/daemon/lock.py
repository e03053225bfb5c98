"""One daemon per database: a lock held for the daemon's whole life.

SQLite: an exclusive ``flock`` on ``<database>.lock`` beside the database file, which holds
the daemon's pid; the kernel drops it when the process ends, however it ends. PostgreSQL: a
session advisory lock (``pg_try_advisory_lock``) on a connection kept open for the daemon's
life; its ``application_name`` carries the pid, so a second daemon can say who holds it.
(Several workers sharing a database with row leases is a later feature.)
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from monitor.errors import MonitorError, StoreError
from monitor.store.engine import make_engine

#: The advisory lock key of ``monitor run`` (any fixed 64-bit number; this spells "fdmonrun").
PG_LOCK_KEY = 0x66646D6F6E72756E
APPLICATION = "monitor run (pid {pid})"


class DaemonLock(Protocol):
    """A held lock: ``alive`` says whether it still holds, ``release`` lets it go."""

    def alive(self) -> bool: ...

    def release(self) -> None: ...


def acquire_lock(url: str) -> DaemonLock:
    """Take the lock of the database at ``url``; MonitorError if another daemon holds it."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if not database or database == ":memory:":
            return _NoLock()
        return FileLock.acquire(Path(database))
    return PgLock.acquire(url)


class _NoLock:
    """An in-memory database belongs to its process: nothing to share, nothing to lock."""

    def alive(self) -> bool:
        return True

    def release(self) -> None:
        pass


class FileLock:
    """``flock`` on ``<database>.lock``."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd: int | None = fd

    @classmethod
    def acquire(cls, database: Path) -> FileLock:
        path = database.with_name(database.name + ".lock")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot open the lock file {path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise MonitorError(
                f"another monitor run (pid {holder or 'unknown'}) is using {database}"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise StoreError(f"cannot lock {path}: {exc}") from exc
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    def alive(self) -> bool:
        return self.fd is not None

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
            os.close(self.fd)  # closing drops the flock; the file stays (no unlink race)
            self.fd = None


def _read_pid(fd: int) -> str | None:
    try:
        data = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return data if data.isdigit() else None


class PgLock:
    """A session advisory lock on a connection of its own."""

    def __init__(self, conn: Connection, shown: str) -> None:
        self.conn: Connection | None = conn
        self.shown = shown

    @classmethod
    def acquire(cls, url: str) -> PgLock:
        shown = make_url(url).render_as_string(hide_password=True)
        engine = make_engine(url)
        try:
            conn = engine.connect()
            conn.execute(
                text("SELECT set_config('application_name', :name, false)"),
                {"name": APPLICATION.format(pid=os.getpid())},
            )
            got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": PG_LOCK_KEY})
            held = bool(got.scalar())
            conn.commit()
        except DBAPIError as exc:
            engine.dispose()
            raise StoreError(f"cannot lock the database {shown}: {exc.orig}") from exc
        if not held:
            holder = _pg_holder(conn)
            conn.close()
            engine.dispose()
            raise MonitorError(f"another {holder or 'monitor run'} is using {shown}")
        return cls(conn, shown)

    def alive(self) -> bool:
        if self.conn is None:
            return False
        try:
            self.conn.execute(text("SELECT 1")).scalar()
            self.conn.commit()
        except DBAPIError:
            return False
        return True

    def release(self) -> None:
        if self.conn is None:
            return
        engine = self.conn.engine
        with contextlib.suppress(DBAPIError):
            self.conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": PG_LOCK_KEY})
            self.conn.commit()
        with contextlib.suppress(DBAPIError):
            self.conn.close()
        engine.dispose()
        self.conn = None


def _pg_holder(conn: Connection) -> str | None:
    """The ``application_name`` of the session holding the lock (``monitor run (pid N)``)."""
    row = conn.execute(
        text(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND ((l.classid::bigint << 32) | l.objid::bigint) = :key LIMIT 1"
        ),
        {"key": PG_LOCK_KEY},
    ).scalar()
    conn.rollback()
    return str(row) if row else None
