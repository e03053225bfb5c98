"""The outbox sender and the daily digest, as the daemon runs them.

Delivery itself (rendering, SMTP, retries, exactly-once bookkeeping) is
:func:`monitor.notify.outbox.deliver_due`'s job; the daemon calls it every
``[daemon] send_every``, shortly after each poll, and after the digest is written. One
delivery runs at a time; a request that comes while one runs makes it go round once more.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select

from monitor.config import Settings
from monitor.daemon.logs import log_event
from monitor.daemon.scheduler import last_digest_due
from monitor.daemon.tasks import Tasks
from monitor.errors import MonitorError
from monitor.poll import Clock
from monitor.store import Store
from monitor.store.queries import snapshot_t

log = logging.getLogger("monitor.daemon")


class Sender:
    """Runs deliveries one at a time, and the digest."""

    def __init__(
        self, store: Store, settings: Callable[[], Settings], clock: Clock, tasks: Tasks
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.tasks = tasks
        self.sending = False
        self.again = False
        self.stopping = False

    async def deliver(self) -> None:
        """Send what is due; if asked again meanwhile, go round once more."""
        if self.sending:
            self.again = True
            return
        self.sending = True
        try:
            with self.tasks.track():
                while not self.stopping:
                    self.again = False
                    await self._deliver_once()
                    if not self.again:
                        break
        finally:
            self.sending = False

    async def _deliver_once(self) -> None:
        from monitor.notify.outbox import deliver_due

        try:
            report = await deliver_due(self.store, self.settings(), clock=self.clock)
        except MonitorError as exc:
            log_event(log, logging.ERROR, "send", status="error", error=exc.message)
            return
        except Exception:  # the top of a job: logged, the next run tries again
            log.exception("outbox: delivery raised an unexpected error")
            return
        busy = report.sent or report.failed
        log_event(
            log,
            logging.INFO if busy else logging.DEBUG,
            "send",
            sent=len(report.sent),
            retrying=len(report.retrying),
            gave_up=len(report.gave_up),
            unrecorded=len(report.unrecorded),
            channels=",".join(report.channels) or "none",
        )

    async def digest(self, *, catch_up: bool = False) -> None:
        """Write the digest of the last day whose digest was due, then deliver it.

        Runs at ``[notify] digest_at``, and at start-up with ``catch_up`` to write a digest
        missed while the daemon was down (writing a day's digest twice is a no-op), unless
        nothing had been polled by the time it was due (a new install sends no empty digest).
        """
        from monitor.digest import enqueue_digest

        settings = self.settings()
        now = self.clock()
        due = last_digest_due(now, settings.zone, settings.notify.digest_at)
        day = due.date() - timedelta(days=1)
        try:
            with self.tasks.track():
                if catch_up and not await asyncio.to_thread(_polled_before, self.store, due):
                    log_event(log, logging.DEBUG, "digest", day=day, skipped="nothing polled")
                    return
                alert = await asyncio.to_thread(enqueue_digest, self.store, settings, day, now=now)
        except MonitorError as exc:
            log_event(log, logging.ERROR, "digest", day=day, status="error", error=exc.message)
            return
        except Exception:  # the top of a job
            log.exception("digest of %s: writing it raised an unexpected error", day)
            return
        log_event(log, logging.INFO, "digest", day=day, alert=alert, skipped=alert is None or None)
        await self.deliver()


def _polled_before(store: Store, moment: datetime) -> bool:
    """Whether any poll started before ``moment``."""
    with store.read() as conn:
        stmt = select(snapshot_t.c.id).where(snapshot_t.c.started_at < moment).limit(1)
        return conn.execute(stmt).first() is not None
