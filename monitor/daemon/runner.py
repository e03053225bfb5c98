"""The daemon's life: start, schedule, reload, stop.

Start: take the database lock, open the store, register the targets, and schedule each
enabled target from its last poll (a run missed while the daemon was down is made up once),
the outbox sender (at once, then every ``send_every``, and shortly after each poll), and the
digest (daily at ``digest_at``, and once at start to catch up on one missed while down).
A failing target backs off (:func:`~monitor.daemon.scheduler.backoff_delay`) and returns to
its schedule after a success.

Stop (SIGTERM or SIGINT): no new poll starts; polls in flight get ``[daemon] grace`` to
finish, then are cancelled (a second signal cancels them at once); only then is the
scheduler shut down, and the exit code is 0. A poll cancelled while it lists records
nothing; one cancelled while its snapshot is being written lets that one transaction finish
before the process exits: never half a snapshot.

Reload (the config file changes, or SIGHUP): a valid config reschedules what changed; an
invalid one is logged and the running config stays. A removed target's archive run in flight
is stopped.

Web UI: when the config has a ``[web]`` table (and ``web`` is not turned off), the web app is
served from the same event loop on the same store (:mod:`monitor.web.server`); its socket is
bound before the daemon starts, and it stops after the polls in flight. A reload reaches it
too (users, tokens, targets…), except the ``[web]`` keys the running server was built with
(socket, proxies, session key and length, ``auth``), which wait for the next start
(:func:`~monitor.web.app.apply_settings`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import make_url

from monitor.config import Settings, TargetConfig, load_settings
from monitor.daemon.lock import DaemonLock, acquire_lock
from monitor.daemon.logs import DaemonLogging, LogFormat, collect_secrets, log_event
from monitor.daemon.polls import Outcome, Poller, log_poll, pending_alerts, poll_history
from monitor.daemon.reload import (
    DEBOUNCE_S,
    ConfigWatcher,
    Debouncer,
    ReloadPlan,
    active_targets,
    plan_reload,
)
from monitor.daemon.scheduler import (
    backoff_delay,
    build_scheduler,
    first_run,
    interval_of,
    target_trigger,
)
from monitor.daemon.sending import Sender
from monitor.daemon.tasks import Slots, Tasks
from monitor.errors import ConfigError, MonitorError
from monitor.poll import Clock, utc_now
from monitor.store import Store, open_store
from monitor.store import queries as q

if TYPE_CHECKING:
    from monitor.web.server import WebServer

log = logging.getLogger("monitor.daemon")

LOCK_CHECK = timedelta(seconds=30)
#: A delivery runs this long after a poll returns, so polls ending together share one.
SEND_AFTER_POLL = timedelta(seconds=1)


def run_daemon(
    config_path: Path,
    settings: Settings,
    *,
    log_format: LogFormat | None = None,
    log_level: str | None = None,
    clock: Clock = utc_now,
    web: bool = True,
) -> int:
    """Run until a signal stops it; the exit code. MonitorError when it cannot start.

    ``web``: serve the web UI if the config has a ``[web]`` table (ConfigError if it cannot).
    """
    serve_web = web and "web" in settings.model_fields_set
    if serve_web:
        from monitor.web.app import check_ready

        check_ready(settings)
    logs = DaemonLogging()
    fmt = log_format or settings.daemon.log_format
    logs.configure(fmt, log_level or settings.daemon.log_level, collect_secrets(settings))
    lock = acquire_lock(settings.database_url)
    try:
        store = open_store(settings.database_url)
        try:
            register(store, [(t.name, t.kind) for t in settings.targets], clock)
            daemon = Daemon(
                config_path,
                settings,
                store,
                lock,
                logs,
                clock=clock,
                pinned_format=log_format,
                pinned_level=log_level,
            )
            if serve_web:
                daemon.web = web_server(daemon)
            return asyncio.run(daemon.run())
        finally:
            store.close()
    finally:
        lock.release()
        logs.close(keep_handler=True)


class Daemon:
    """One running ``monitor run``."""

    def __init__(
        self,
        config_path: Path,
        settings: Settings,
        store: Store,
        lock: DaemonLock,
        logs: DaemonLogging,
        *,
        clock: Clock = utc_now,
        pinned_format: LogFormat | None = None,
        pinned_level: str | None = None,
    ) -> None:
        """``pinned_*``: log settings given on the command line, kept over reloads."""
        self.config_path = config_path
        self.settings = settings
        self.store = store
        self.lock = lock
        self.logs = logs
        self.clock = clock
        self.pinned_format = pinned_format
        self.pinned_level = pinned_level
        self.failures: dict[str, int] = {}
        self.exit_code = 0
        self.stopping = False
        self.stop_reason = "stop"
        self.web: WebServer | None = None

    # --- start and stop -----------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self.tasks = Tasks()
        self.slots = Slots(self.settings.daemon.max_polls)
        self.poller = Poller(self.store, self.slots, self.clock, lambda: self.settings)
        self.sender = Sender(self.store, lambda: self.settings, self.clock, self.tasks)
        self.stop_requested = asyncio.Event()
        self.hurry = asyncio.Event()
        self.scheduler = build_scheduler(self.settings)
        self.scheduler.add_listener(self._on_skipped, EVENT_JOB_MAX_INSTANCES)
        self.reloader = Debouncer(loop, self._reload_soon, DEBOUNCE_S)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop, signum.name)
        loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        self._log_started()
        if self.web is not None:
            self.web.start()
            log_event(log, logging.INFO, "web", url=self.web.url)
        self.scheduler.start()
        for target in active_targets(self.settings).values():
            await self._schedule(target)
        self._schedule_sender()
        self._schedule_digest()
        self.scheduler.add_job(
            self._check_lock, IntervalTrigger(seconds=LOCK_CHECK.total_seconds()), id="lock"
        )
        self.watcher = ConfigWatcher(self.config_path, self.reloader.trigger_threadsafe)
        self.watcher.start()
        await self.stop_requested.wait()
        await self._stop()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)
        return self.exit_code

    def _log_started(self) -> None:
        url = make_url(self.settings.database_url).render_as_string(hide_password=True)
        active = active_targets(self.settings)
        log_event(
            log,
            logging.INFO,
            "started",
            pid=os.getpid(),
            targets=len(active),
            disabled=len(self.settings.targets) - len(active) or None,
            database=url,
            config=str(self.config_path),
        )

    def request_stop(self, why: str = "stop", code: int = 0) -> None:
        """Stop scheduling and wind down; a second request stops the polls in flight at once."""
        if self.stop_requested.is_set():
            if not self.hurry.is_set():
                log_event(log, logging.WARNING, "hurry", signal=why, reason="stopping at once")
            self.hurry.set()
            return
        self.exit_code = code
        self.stop_reason = why
        self.stop_requested.set()

    async def _stop(self) -> None:
        self.stopping = self.sender.stopping = True
        self.scheduler.pause()
        self.slots.close()
        self.reloader.cancel()
        await asyncio.to_thread(self.watcher.stop)
        grace = self.settings.daemon.grace.total_seconds()
        busy = len(self.tasks.running)
        log_event(
            log, logging.INFO, "stopping", signal=self.stop_reason, in_flight=busy, grace=grace
        )
        left = await self.tasks.drain(grace, self.hurry)
        if left:
            log_event(log, logging.WARNING, "abandoning", in_flight=len(left))
            await self.tasks.cancel(left)
        if self.web is not None:
            await self.web.stop()
        self.scheduler.shutdown(wait=False)
        await asyncio.sleep(0)  # the shutdown runs as a loop callback
        # A poll cancelled while writing its snapshot left the write running in a thread:
        # it commits or rolls back whole before the daemon says it stopped.
        await asyncio.get_running_loop().shutdown_default_executor()
        log_event(log, logging.INFO, "stopped", code=self.exit_code)

    def scheduler_running(self) -> bool:
        """For the web UI's /healthz: polls are being scheduled (not stopping)."""
        scheduler = getattr(self, "scheduler", None)
        return scheduler is not None and bool(scheduler.running) and not self.stopping

    def _on_sighup(self) -> None:
        log_event(log, logging.INFO, "reload", reason="SIGHUP")
        self.reloader.trigger()

    async def _check_lock(self) -> None:
        if not await asyncio.to_thread(self.lock.alive):
            log_event(log, logging.ERROR, "lock", status="lost", reason="the database lock is lost")
            self.request_stop("lock lost", code=1)

    # --- jobs ---------------------------------------------------------------------------------

    async def _schedule(self, target: TargetConfig) -> None:
        """Add (or replace) the poll job of ``target``, first due from its last poll."""
        last, failures = await asyncio.to_thread(poll_history, self.store, target.name)
        self.failures[target.name] = failures
        when = first_run(
            target,
            self.settings.zone,
            now=self.clock(),
            last_poll=last,
            failures=failures,
            backoff_max=self.settings.daemon.backoff_max,
        )
        when += timedelta(seconds=random.uniform(0, target.jitter.total_seconds()))
        self.scheduler.add_job(
            self._poll_job,
            target_trigger(target, self.settings.zone),
            args=[target.name],
            id=f"poll:{target.name}",
            name=target.name,
            next_run_time=when,
            replace_existing=True,
        )

    def _schedule_sender(self) -> None:
        every = self.settings.daemon.send_every.total_seconds()
        self.scheduler.add_job(
            self.sender.deliver,
            IntervalTrigger(seconds=every, timezone=self.settings.zone),
            id="outbox",
            next_run_time=self.clock(),
            replace_existing=True,
        )

    def _schedule_digest(self) -> None:
        """The daily digest at ``digest_at``, and a catch-up run now for one missed while down."""
        notify = self.settings.notify
        if not notify.digest:
            for job_id in ("digest", "digest-catch-up"):
                if self.scheduler.get_job(job_id) is not None:
                    self.scheduler.remove_job(job_id)
            return
        at = notify.digest_at
        trigger = CronTrigger(hour=at.hour, minute=at.minute, timezone=self.settings.zone)
        self.scheduler.add_job(self.sender.digest, trigger, id="digest", replace_existing=True)
        self.scheduler.add_job(
            self.sender.digest,
            DateTrigger(self.clock()),
            kwargs={"catch_up": True},
            id="digest-catch-up",
            replace_existing=True,
        )

    async def _poll_job(self, name: str) -> None:
        target = active_targets(self.settings).get(name)
        if target is None or self.stopping:
            return
        with self.tasks.track():
            try:
                outcome = await self.poller.poll(target)
                if outcome is not None:
                    await self._after_poll(target, outcome)
                    await self.poller.archive(target, outcome)
            except asyncio.CancelledError:
                log_event(log, logging.WARNING, "abandoned", target=name, reason="stopping")

    async def _after_poll(self, target: TargetConfig, outcome: Outcome) -> None:
        name = target.name
        job = self.scheduler.get_job(f"poll:{name}")
        failures = self.failures.get(name, 0) + 1 if outcome.failed else 0
        recovered = self.failures.get(name, 0) if not outcome.failed else 0
        self.failures[name] = failures
        if failures and job is not None and not self.stopping:
            now = self.clock()
            interval = interval_of(target, self.settings.zone, now)
            delay = backoff_delay(interval, failures, self.settings.daemon.backoff_max)
            delay += timedelta(seconds=random.uniform(0, target.jitter.total_seconds()))
            job.modify(next_run_time=now + delay)
        try:
            outbox: int | None = await asyncio.to_thread(pending_alerts, self.store)
        except MonitorError:
            outbox = None
        log_poll(
            outcome,
            failures=failures,
            next_run=job.next_run_time if job is not None and not self.stopping else None,
            outbox=outbox,
        )
        if recovered:
            log_event(log, logging.INFO, "recovered", target=name, after_failures=recovered)
        self._send_soon()

    def _send_soon(self) -> None:
        if self.stopping:
            return
        if self.sender.sending:
            self.sender.again = True
            return
        job = self.scheduler.get_job("outbox")
        soon = self.clock() + SEND_AFTER_POLL
        if job is not None and (job.next_run_time is None or job.next_run_time > soon):
            job.modify(next_run_time=soon)

    def _on_skipped(self, event: Any) -> None:
        """APScheduler did not start a run because the last one still runs."""
        if event.job_id == "outbox":
            self.sender.again = True
        elif event.job_id.startswith("poll:"):
            name = event.job_id.removeprefix("poll:")
            log_event(log, logging.DEBUG, "skip", target=name, reason="still polling")

    # --- reload -------------------------------------------------------------------------------

    def _reload_soon(self) -> None:
        if not self.stopping:
            asyncio.get_running_loop().create_task(self.reload())

    async def reload(self) -> None:
        """Read the config file again and apply it; keep the running config if it is invalid."""
        try:
            new = await asyncio.to_thread(load_settings, self.config_path)
        except ConfigError as exc:
            log_event(
                log,
                logging.ERROR,
                "reload",
                status="invalid",
                kept="running config",
                error=exc.message,
            )
            return
        if self.stopping:
            return
        old = self.settings
        plan = plan_reload(old, new)
        if plan.database:
            log_event(
                log,
                logging.WARNING,
                "reload",
                status="partial",
                reason="the database changed; restart monitor run to use it (still on the old one)",
            )
            new = new.model_copy(update={"database": old.database_url, "data_dir": old.data_dir})
        if plan.empty:
            log_event(log, logging.INFO, "reload", status="unchanged")
            return
        self.settings = new
        await self._apply(old, new, plan)
        if self.web is not None:
            self._apply_web(new)
        log_event(
            log,
            logging.INFO,
            "reload",
            status="applied",
            added=_names(plan.added),
            removed=_names(plan.removed),
            rescheduled=_names(plan.rescheduled),
            updated=_names(plan.updated),
            daemon=_names(plan.daemon),
            notify=_names(plan.notify),
            sections=_names(plan.sections),
            timezone=new.timezone if plan.timezone else None,
        )

    def _apply_web(self, new: Settings) -> None:
        """The web UI serves with the new config from its next request (see
        :func:`~monitor.web.app.apply_settings`); what it cannot take is logged."""
        from monitor.web.app import apply_settings

        assert self.web is not None
        app = self.web.app
        try:
            later = apply_settings(app, new)
        except ConfigError as exc:
            running = app.state.web.settings.web
            apply_settings(app, new.model_copy(update={"web": running}))
            reason = f"the web UI keeps its running [web]: {exc.message}"
            log_event(log, logging.WARNING, "reload", status="partial", reason=reason)
            return
        if later:
            reason = f"[web] {', '.join(later)} apply when monitor run starts again"
            log_event(log, logging.WARNING, "reload", status="partial", reason=reason)

    async def _apply(self, old: Settings, new: Settings, plan: ReloadPlan) -> None:
        self.logs.configure(
            self.pinned_format or new.daemon.log_format,
            self.pinned_level or new.daemon.log_level,
            collect_secrets(new),
        )
        self.slots.resize(new.daemon.max_polls)
        if plan.added:
            added = [(t.name, t.kind) for t in new.targets if t.name in plan.added]
            await asyncio.to_thread(register, self.store, added, self.clock)
        for name in plan.removed:
            if self.scheduler.get_job(f"poll:{name}") is not None:
                self.scheduler.remove_job(f"poll:{name}")
            self.failures.pop(name, None)
            self.poller.stop_archive(name)
        active = active_targets(new)
        for name in [*plan.added, *plan.rescheduled]:
            await self._schedule(active[name])
        if "send_every" in plan.daemon:
            self._schedule_sender()
        if plan.timezone or {"digest", "digest_at"} & set(plan.notify):
            self._schedule_digest()


def register(store: Store, targets: Sequence[tuple[str, str]], clock: Clock) -> None:
    """Give each target a row; the write lock is taken only when one is missing."""
    with store.read() as conn:
        known = set(q.target_names(conn).values())
    missing = [(name, kind) for name, kind in targets if name not in known]
    if missing:
        with store.write() as conn:
            q.register_targets(conn, missing, clock())


def web_server(daemon: Daemon) -> WebServer:
    """The web UI of ``daemon``, its socket bound (MonitorError if it cannot be)."""
    from monitor.web import create_app
    from monitor.web.server import WebServer

    settings = daemon.settings
    app = create_app(settings, store=daemon.store, clock=daemon.clock, daemon=daemon)
    web = settings.web
    return WebServer(app, bind=web.bind, port=web.port, trusted_proxies=web.trusted_proxies)


def _names(names: list[str]) -> str | None:
    return ",".join(names) if names else None
