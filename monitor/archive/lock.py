"""Archive runs and ``monitor gc --apply``: a lock the runs share and gc holds alone.

A run that finds a body stored already does not write it again, and records a row naming it
a moment later; a gc deleting that body as unreferenced in between would leave the row naming
nothing. So an archive run holds the lock shared from its first download to its last record,
and ``gc --apply`` holds it alone while it drops rows and deletes bodies (bodies with no row,
``--orphans``, are then safe to delete too: no run is between storing one and recording it).
gc waits for the runs in flight, the runs wait for gc, each at most ``wait`` seconds.

SQLite: ``flock`` on ``<database>.archive.lock`` beside the database file (the processes
sharing a SQLite file share its machine). PostgreSQL: a session advisory lock on a connection
of its own, held as long as the lock is.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection, text

from monitor.errors import MonitorError, StoreError
from monitor.store import Store

#: The advisory lock key (any fixed 64-bit number; this spells "fdarchiv").
PG_LOCK_KEY = 0x6664617263686976
#: How long a run waits for a gc, and a gc for the runs, by default.
WAIT_SECONDS = 600.0
#: How often a waiter tries again.
_POLL_SECONDS = 0.1


class ArchiveLock:
    """A held lock (shared or alone); :meth:`release` lets it go."""

    def __init__(self, release: Callable[[], None]) -> None:
        self._release: Callable[[], None] | None = release

    def release(self) -> None:
        if self._release is not None:
            release, self._release = self._release, None
            release()

    def __enter__(self) -> ArchiveLock:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


async def shared(store: Store, wait: float | None = None) -> ArchiveLock:
    """The lock an archive run holds (see the module docstring); MonitorError when a gc keeps
    it longer than ``wait`` (default :data:`WAIT_SECONDS`)."""
    wait = WAIT_SECONDS if wait is None else wait
    attempt = _attempt(store, exclusive=False)
    deadline = time.monotonic() + wait
    while True:
        trying = asyncio.ensure_future(asyncio.to_thread(attempt))
        try:
            held = await asyncio.shield(trying)
        except asyncio.CancelledError:
            trying.add_done_callback(_let_go)  # taken after all: given back
            raise
        if held is not None:
            return held
        if time.monotonic() >= deadline:
            raise MonitorError(f"monitor gc kept the archive locked for {wait:g} s: not archived")
        await asyncio.sleep(_POLL_SECONDS)


def _let_go(trying: asyncio.Future[ArchiveLock | None]) -> None:
    if not trying.cancelled() and trying.exception() is None and (held := trying.result()):
        held.release()


def alone(store: Store, wait: float | None = None) -> ArchiveLock:
    """The lock ``gc --apply`` holds; MonitorError when archive runs keep it longer than
    ``wait`` (default :data:`WAIT_SECONDS`; nothing was removed)."""
    wait = WAIT_SECONDS if wait is None else wait
    attempt = _attempt(store, exclusive=True)
    deadline = time.monotonic() + wait
    while (held := attempt()) is None:
        if time.monotonic() >= deadline:
            raise MonitorError(
                f"an archive run (monitor run or monitor poll) kept on for {wait:g} s: "
                "nothing was removed; try again when it ends"
            )
        time.sleep(_POLL_SECONDS)
    return held


def _attempt(store: Store, *, exclusive: bool) -> Callable[[], ArchiveLock | None]:
    """One try to take the lock without waiting: the lock, or None when it is taken."""
    url = store.engine.url
    if url.get_backend_name() == "sqlite":
        database = url.database
        if not database or database == ":memory:":
            return lambda: ArchiveLock(lambda: None)  # its process's own: nothing to share
        return lambda: _flock(Path(database), exclusive)
    return lambda: _advisory(store, exclusive)


def _flock(database: Path, exclusive: bool) -> ArchiveLock | None:
    path = database.with_name(database.name + ".archive.lock")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise StoreError(f"cannot open the lock file {path}: {exc}") from exc
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError as exc:
        os.close(fd)
        raise StoreError(f"cannot lock {path}: {exc}") from exc
    return ArchiveLock(lambda: os.close(fd))  # closing the descriptor drops the lock


def _advisory(store: Store, exclusive: bool) -> ArchiveLock | None:
    kind = "" if exclusive else "_shared"
    conn: Connection = store.engine.connect()
    try:
        taken = conn.execute(text(f"SELECT pg_try_advisory_lock{kind}(:key)"), {"key": PG_LOCK_KEY})
        conn.commit()
        if not taken.scalar():
            conn.close()
            return None
    except BaseException:
        conn.close()
        raise

    def release() -> None:
        try:
            conn.execute(text(f"SELECT pg_advisory_unlock{kind}(:key)"), {"key": PG_LOCK_KEY})
            conn.commit()
        finally:
            conn.close()

    return ArchiveLock(release)
