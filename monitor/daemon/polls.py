"""One scheduled poll: the guards around :func:`monitor.poll.poll_target` and its log line.

A target never overlaps itself (a poll still running makes the next run a no-op, whatever
job started it), and at most ``[daemon] max_polls`` polls run at once. A poll that raises
is a failure like a ``failed`` snapshot, logged with the target's name.

After the poll's line, :meth:`Poller.archive` keeps copies of what ``[target.archive]``
selects (under the same two guards) and logs an ``archive`` line of its own. A target that a
reload removed is not archived, and its archive run in flight is stopped
(:meth:`Poller.stop_archive`): what it fetched is recorded, the rest is left.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from monitor.config import Settings, TargetConfig
from monitor.daemon.logs import log_event
from monitor.daemon.reload import active_targets
from monitor.daemon.tasks import Slots
from monitor.errors import MonitorError, NotFound
from monitor.poll import Clock, PollResult, poll_target
from monitor.store import Store
from monitor.store import queries as q

log = logging.getLogger("monitor.daemon")

if TYPE_CHECKING:
    from monitor.archive.archiver import ArchiveReport

alert_t = q.TABLES["alert"]


@dataclass
class Outcome:
    """What one poll came to: a result (a snapshot was recorded) or an error (none was)."""

    target: str
    seconds: float
    result: PollResult | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.result is None or self.result.status == "failed"


class Poller:
    """Runs polls under the two guards: one per target, ``slots`` over all targets."""

    def __init__(
        self,
        store: Store,
        slots: Slots,
        clock: Clock,
        settings: Callable[[], Settings] | None = None,
    ) -> None:
        self.store = store
        self.slots = slots
        self.clock = clock
        #: The settings in force (they change on a reload); None: nothing is archived.
        self.settings = settings
        self.polling: set[str] = set()
        #: The archive runs in flight, by target.
        self.archiving: dict[str, asyncio.Task[ArchiveReport | None]] = {}

    async def poll(self, target: TargetConfig) -> Outcome | None:
        """Poll ``target`` once; None when it did not run (already polling, or stopping)."""
        name = target.name
        if name in self.polling:
            log_event(log, logging.DEBUG, "skip", target=name, reason="still polling")
            return None
        self.polling.add(name)
        try:
            if not await self.slots.acquire():
                return None
            try:
                return await self._run(target)
            finally:
                self.slots.release()
        finally:
            self.polling.discard(name)

    async def _run(self, target: TargetConfig) -> Outcome:
        t0 = time.perf_counter()
        log_event(log, logging.DEBUG, "start", target=target.name)
        try:
            result = await poll_target(self.store, target, clock=self.clock)
        except MonitorError as exc:
            return Outcome(target.name, time.perf_counter() - t0, error=exc.message)
        except Exception as exc:  # the top of a job: logged with the target's name
            log.exception("%s: the poll raised an unexpected error", target.name)
            error = f"{type(exc).__name__}: {exc}"
            return Outcome(target.name, time.perf_counter() - t0, error=error)
        return Outcome(target.name, time.perf_counter() - t0, result=result)

    # --- the archive step, after a poll and its log line ----------------------------------

    async def archive(self, target: TargetConfig, outcome: Outcome) -> ArchiveReport | None:
        """Archive what the poll of ``outcome`` brought; None when there was nothing to run.

        Nothing runs when the target's archive is off, when the poll recorded no applied
        snapshot (failed, or a held suspect), when a reload removed the target meanwhile,
        while the target polls again (that poll archives after itself), or when the daemon
        stops.
        """
        result = outcome.result
        if self.settings is None or not target.archive.enabled or result is None or not result.ok:
            return None
        name = target.name
        if name in self.polling or name not in active_targets(self.settings()):
            return None
        self.polling.add(name)
        try:
            if not await self.slots.acquire():
                return None
            try:
                settings = self.settings()
                if name not in active_targets(settings):  # removed while it waited
                    return None
                return await self._stoppable(settings, target)
            finally:
                self.slots.release()
        finally:
            self.polling.discard(name)

    def stop_archive(self, name: str) -> None:
        """Stop the archive run of ``name`` in flight, if any (a reload removed the target)."""
        task = self.archiving.get(name)
        if task is not None:
            task.cancel()

    async def _stoppable(self, settings: Settings, target: TargetConfig) -> ArchiveReport | None:
        """The archive run as a task of its own, which :meth:`stop_archive` can cancel."""
        task = asyncio.ensure_future(self._archive(settings, target))
        self.archiving[target.name] = task
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the daemon stops: the poll's job says so
            error = "stopped: the target is no longer in the config"
            log_event(log, logging.WARNING, "archive", target=target.name, error=error)
            return None
        finally:
            del self.archiving[target.name]

    async def _archive(self, settings: Settings, target: TargetConfig) -> ArchiveReport | None:
        from monitor.archive.archiver import archive_target
        from monitor.archive.blobs import open_blob_store

        t0 = time.perf_counter()
        try:
            blobs = open_blob_store(settings)
            report = await archive_target(self.store, settings, target, blobs, clock=self.clock)
        except MonitorError as exc:
            error = exc.message
        except Exception as exc:  # the top of a job: logged with the target's name
            log.exception("%s: the archive raised an unexpected error", target.name)
            error = f"{type(exc).__name__}: {exc}"
        else:
            log_archive(report)
            return report
        seconds = time.perf_counter() - t0
        log_event(log, logging.WARNING, "archive", target=target.name, seconds=seconds, error=error)
        return None


def log_archive(report: ArchiveReport) -> None:
    """The one line an archive run writes: target, archived, bytes, skipped, failed, seconds."""
    log_event(
        log,
        logging.WARNING if report.failed else logging.INFO,
        "archive",
        target=report.target,
        archived=report.archived,
        bytes=report.bytes,
        skipped=report.skipped,
        failed=report.failed,
        waiting=report.waiting or None,
        seconds=report.seconds,
        note=report.note,
    )


def log_poll(
    outcome: Outcome, *, failures: int, next_run: datetime | None, outbox: int | None
) -> None:
    """The one line a poll writes: target, status, counts, files, duration, snapshot."""
    r = outcome.result
    status = r.status if r is not None else "error"
    error = outcome.error if r is None else r.error
    level = logging.WARNING if outcome.failed else logging.INFO
    log_event(
        log,
        level,
        "poll",
        target=outcome.target,
        status=status,
        added=r.added if r else 0,
        removed=r.removed if r else 0,
        modified=r.modified if r else 0,
        moved=r.moved if r else 0,
        files=r.files if r else None,
        seconds=outcome.seconds,
        snapshot=r.snapshot_id if r else None,
        outbox=outbox,
        failures=failures or None,
        next=next_run,
        error=error,
    )


def poll_history(store: Store, name: str) -> tuple[datetime | None, int]:
    """When ``name`` was last polled, and how many polls in a row have failed since."""
    with store.read() as conn:
        try:
            tid = q.target_id(conn, name)
        except NotFound:
            return None, 0
        recent = q.list_snapshots(conn, tid, limit=32)
    if not recent:
        return None, 0
    failures = 0
    for snapshot in recent:
        if snapshot.status != "failed":
            break
        failures += 1
    return recent[0].started_at, failures


def pending_alerts(store: Store) -> int:
    """Alerts in the outbox not yet sent (nor given up)."""
    with store.read() as conn:
        stmt = select(func.count()).where(
            alert_t.c.sent_at.is_(None), alert_t.c.gave_up_at.is_(None)
        )
        return int(conn.execute(stmt.select_from(alert_t)).scalar_one())
