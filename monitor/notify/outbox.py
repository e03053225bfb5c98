"""Draining the outbox: every due alert, oldest first, to every configured channel.

An alert row is written by the poll that caused it, in the poll's own transaction. Delivery:

1. **Claim** (one small transaction): ``attempts + 1`` and ``next_attempt_at = now +``
   :func:`claim_for`, only if the row is still due. The update is atomic, so two workers on
   one database never send the same alert at once; a process that dies mid-send leaves a claim
   that expires. The clock is read for each claim, not once per call, and a claim outlasts the
   worst case of the alert's sends (every channel's timeouts added up), so a claim taken late in
   a long call is never already expired while its alert is being sent.
2. **Send** on each configured channel not yet in ``alert.delivered`` (``email``,
   ``apprise:<hash>``), outside any transaction.
3. **Mark** right after each successful send (its own small transaction): the channel joins
   ``delivered``; once every channel has delivered, ``sent_at`` is set.
4. On a failure: ``last_error`` and ``next_attempt_at = now + wait`` (and ``delivered``, so a
   mark that failed is made good); see *Giving up* below.

The database work runs in threads (:func:`asyncio.to_thread`), so a busy database never stalls
the daemon's event loop, where the polls run. A mark or failure record that meets a busy
database (a poll's transaction holding the lock) is tried again after each of
:data:`RECORD_WAITS`; nothing after a send raises.

Exactly once: an alert (per channel) is marked only after its send succeeded, and a marked
channel is never sent again. The windows left are a crash between a successful send and its
mark, and a database that refuses the mark through all its waits (logged as an error): then
the alert is sent once more after the claim expires (restart included), with the same
Message-ID, so mail clients and servers can recognise the duplicate.

Without any channel configured nothing is sent and nothing is marked: alerts wait. A channel
that cannot be reached at all (:class:`~monitor.notify.base.ChannelDown`: connection, TLS,
login) is not used again in the same call, so a dead mail server costs one timeout per call,
not one per alert; alerts that need only dead channels wait, unclaimed.

Giving up. Two kinds of failure are told apart:

- *channel-level* (:class:`~monitor.notify.base.ChannelDown`: the server cannot be reached,
  TLS fails, the login is refused): nothing is wrong with the alert, so the try is **not
  counted** (the claim's ``attempts + 1`` is taken back). It waits as long as it has waited
  already (its age, between :data:`BACKOFF_FIRST` and :data:`BACKOFF_MAX`, with jitter), so a
  long outage costs few connections, and it goes out when the channel is back;
- *message-level* (any other :class:`~monitor.errors.NotifyError`: the server refused this
  message or its recipients, Apprise could not deliver it, the payload cannot be rendered):
  the try counts, the wait is exponential from :data:`BACKOFF_FIRST` (capped at
  :data:`BACKOFF_MAX`, with jitter), and after ``1 + [daemon] send_retries`` counted tries the
  alert is given up (``gave_up_at``): logged, kept.

A try where one channel failed message-level counts even if another was down. Whatever the
failures, an alert still undelivered :data:`GIVE_UP_AFTER` after it was written is given up at
its next failed try: news that old is better read in ``monitor alerts`` than mailed.

Every claim counts until its try is recorded, so an alert whose tries all died without a word
(the process killed each time) is given up too, rather than sent forever. ``send_retries = 0``
means one counted try: a refused message is given up at once, and a crash between send and
mark means no resend (the next claim gives it up).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, Table, or_, select, update
from sqlmodel import SQLModel

from monitor.config import Settings
from monitor.errors import NotifyError, StoreError
from monitor.notify.base import Channel, ChannelDown, configured_channels
from monitor.notify.render import render_alert
from monitor.store import Store
from monitor.store.engine import BUSY_TIMEOUT_S
from monitor.store.models import Alert

log = logging.getLogger(__name__)

#: The outbox's clock: an aware datetime, read at each claim and each record.
Clock = Callable[[], datetime]
#: Waits that many seconds (:func:`asyncio.sleep`; tests pass their own).
Pause = Callable[[float], Awaitable[None]]

alert_t: Table = SQLModel.metadata.tables["alert"]

#: The shortest claim: how long a try may take before another worker (or this one, restarted)
#: may try again; longer when the channels' timeouts say so (:func:`claim_for`).
CLAIM_FOR = timedelta(minutes=5)
BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)
#: Alerts handled in one call at most (the rest wait for the next call).
BATCH_LIMIT = 200
#: Waits (seconds) before trying again to record a try the database refused (busy).
RECORD_WAITS = (1.0, 3.0, 10.0)
#: The longest recording one try can take: each write waits for the lock up to the store's
#: busy timeout (the default assumed), then the waits between them.
RECORD_AT_MOST = timedelta(seconds=(len(RECORD_WAITS) + 1) * BUSY_TIMEOUT_S + sum(RECORD_WAITS))
#: An alert not delivered this long after it was written is given up at its next failed try.
GIVE_UP_AFTER = timedelta(days=7)


@dataclass
class DeliveryReport:
    """What one :func:`deliver_due` call did (alert ids)."""

    channels: list[str]
    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    gave_up: list[int] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)
    #: Channels found unreachable during this call (name → why): not used again in it.
    down: dict[str, str] = field(default_factory=dict)
    #: Alerts not tried because every channel they still need is down (no try counted).
    waiting: list[int] = field(default_factory=list)
    #: Alerts whose try the database refused to record, even after waits (logged as errors):
    #: tried again once their claim expires, and sent again where the send was not recorded.
    unrecorded: list[int] = field(default_factory=list)

    @property
    def failed(self) -> list[int]:
        return self.retrying + self.gave_up


@dataclass(frozen=True)
class _Due:
    id: int
    key: str
    kind: str
    payload: str
    created_at: datetime
    attempts: int
    delivered: frozenset[str]


def claim_for(settings: Settings, channels: Sequence[Channel]) -> timedelta:
    """How long a claim holds: the worst case of one alert's try, and at least
    :data:`CLAIM_FOR`. That is twice every channel's timeouts added up (for the most
    recipients any alert has), plus a record after each channel and one at the end, each as
    slow as a busy database can make it (:data:`RECORD_AT_MOST`)."""
    recipients = max([len(settings.notify.to), *(len(t.notify_to) for t in settings.targets)])
    sends = sum((c.longest_send(recipients) for c in channels), timedelta())
    return max(CLAIM_FOR, 2 * sends + (len(channels) + 1) * RECORD_AT_MOST)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def backoff(attempts: int, *, jitter: float) -> timedelta:
    """The wait after the ``attempts``-th failed try; ``jitter`` in [0, 1) scales it by 0.5-1."""
    doublings = max(0, min(attempts - 1, 30))
    base = min(BACKOFF_FIRST * (1 << doublings), BACKOFF_MAX)
    return base * (0.5 + jitter / 2)


def outage_wait(age: timedelta, *, jitter: float) -> timedelta:
    """The wait after a try that found only channels down: as long as the alert has waited."""
    return min(max(age, BACKOFF_FIRST), BACKOFF_MAX) * (0.5 + jitter / 2)


async def deliver_due(
    store: Store,
    settings: Settings,
    *,
    clock: Clock | None = None,
    now: datetime | None = None,
    only: Collection[int] | None = None,
    channels: Sequence[Channel] | None = None,
    jitter: Callable[[], float] = random.random,
    pause: Pause = asyncio.sleep,
) -> DeliveryReport:
    """Send every due unsent alert (oldest first) on every configured channel; see the module.

    ``clock`` is read for each claim and record (default: the system's UTC clock); ``now``
    instead stops the clock at that moment (aware; for tests and one-shot commands). ``only``
    limits it to these alert ids; ``channels`` replaces the configured ones; ``pause`` waits
    between tries to record on a busy database. Raises only :class:`~monitor.errors.StoreError`,
    and only before anything is sent (reading the outbox, claiming): delivery failures are
    recorded on the rows and in the report, and nothing after a send raises.
    """
    if clock is not None and now is not None:
        raise TypeError("deliver_due takes clock or now, not both")
    if clock is None:
        clock = _utc_now if now is None else _stopped(now)
    if channels is None:
        channels = configured_channels(settings.notify)
    report = DeliveryReport(channels=[c.name for c in channels])
    if not channels:
        return report
    hold = claim_for(settings, channels)
    run = _Run(store, settings, channels, clock, pause, report)
    due = await asyncio.to_thread(_read_due, store, clock(), only)
    for alert_id, delivered in due:
        needed = {c.name for c in channels} - delivered
        if needed and needed <= report.down.keys():
            report.waiting.append(alert_id)
            continue
        alert = await asyncio.to_thread(_claim, store, alert_id, clock(), hold)
        if alert is not None:
            await _deliver(run, alert, jitter())
    return report


def _stopped(moment: datetime) -> Clock:
    return lambda: moment


def _read_due(
    store: Store, now: datetime, only: Collection[int] | None
) -> list[tuple[int, frozenset[str]]]:
    with store.read() as conn:
        return _due(conn, now, only)


def _due(
    conn: Connection, now: datetime, only: Collection[int] | None
) -> list[tuple[int, frozenset[str]]]:
    """Due alerts, oldest first, with the channels that delivered them already."""
    c = alert_t.c
    stmt = select(c.id, c.delivered).where(_is_due(now)).order_by(c.id).limit(BATCH_LIMIT)
    if only is not None:
        stmt = stmt.where(c.id.in_(list(only)))
    return [(int(r.id), _channels_done(r.delivered)) for r in conn.execute(stmt)]


def _channels_done(delivered: str | None) -> frozenset[str]:
    return frozenset(json.loads(delivered)) if delivered else frozenset()


def _is_due(now: datetime) -> Any:
    c = alert_t.c
    return (
        c.sent_at.is_(None)
        & c.gave_up_at.is_(None)
        & or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now)
    )


def _claim(store: Store, alert_id: int, now: datetime, hold: timedelta) -> _Due | None:
    """Take the alert for one try (for ``hold``), unless someone else did or it is no longer
    due."""
    c = alert_t.c
    with store.write() as conn:
        claimed = conn.execute(
            update(alert_t)
            .where(c.id == alert_id, _is_due(now))
            .values(attempts=c.attempts + 1, next_attempt_at=now + hold)
        )
        if claimed.rowcount != 1:
            return None
        row = conn.execute(
            select(c.key, c.kind, c.payload, c.created_at, c.attempts, c.delivered).where(
                c.id == alert_id
            )
        ).one()
    done = _channels_done(row.delivered)
    return _Due(alert_id, row.key, row.kind, row.payload, row.created_at, row.attempts, done)


@dataclass(frozen=True)
class _Run:
    """What one :func:`deliver_due` call shares with each alert's try."""

    store: Store
    settings: Settings
    channels: Sequence[Channel]
    clock: Clock
    pause: Pause
    report: DeliveryReport


async def _deliver(run: _Run, alert: _Due, jitter: float) -> None:
    fail = partial(_fail, run, alert, jitter=jitter)
    if alert.attempts > run.settings.daemon.send_retries + 1:  # claimed each time, no record
        error = f"the sender stopped during each of {alert.attempts - 1} tries (crash or kill?)"
        await fail(error, counted=True, done=alert.delivered)
        return
    try:
        payload = json.loads(alert.payload)
        message = render_alert(alert.kind, payload, run.settings, alert_id=alert.id, key=alert.key)
    except (NotifyError, ValueError) as exc:
        await fail(str(exc), counted=True, done=alert.delivered)
        return
    message = replace(message, date=run.clock())
    done, errors, counted = set(alert.delivered), [], False
    for channel in run.channels:
        if channel.name in done:
            continue
        if channel.name in run.report.down:
            errors.append(f"{channel.name}: not tried, {run.report.down[channel.name]}")
            continue
        try:
            await channel.send(message)
        except NotifyError as exc:
            if isinstance(exc, ChannelDown):
                run.report.down[channel.name] = str(exc)
            else:
                counted = True
            errors.append(f"{channel.name}: {exc}")
            continue
        done.add(channel.name)
        if any(c.name not in done for c in run.channels):  # the last one: recorded below
            await _record(run, alert, {"delivered": _json(done)})
    if errors:
        await fail("; ".join(errors), counted=counted, done=done)
        return
    sent = {"delivered": _json(done), "sent_at": run.clock(), "next_attempt_at": None}
    await _record(run, alert, sent | {"last_error": None})
    log.info("alert %s (%s) sent: %s", alert.id, alert.kind, message.subject)
    run.report.sent.append(alert.id)


def _json(done: Collection[str]) -> str:
    return json.dumps(sorted(done))


async def _record(run: _Run, alert: _Due, values: dict[str, Any]) -> bool:
    """Write ``values`` on the alert's row, never raising: a busy database (the lock held by a
    poll's transaction) is tried again after each of :data:`RECORD_WAITS`. When it never works
    the error is logged loudly and False returned: the claim stays, so after it expires the
    alert is tried again, and channels it was sent on but not recorded send it once more."""
    refused: StoreError | None = None
    for wait in (None, *RECORD_WAITS):
        if refused is not None and wait is not None:
            log.warning("alert %s: recording failed (%s); again in %ss", alert.id, refused, wait)
            await run.pause(wait)
        try:
            await asyncio.to_thread(_update, run.store, alert.id, values)
        except StoreError as exc:
            refused = exc
            continue
        return True
    log.error(
        "alert %s (%s): the database refused %s times to record this try (%s); it is tried "
        "again once its claim expires, and channels that got it (%s) may get it twice",
        alert.id, alert.kind, len(RECORD_WAITS) + 1, refused, values.get("delivered", "[]"),
    )  # fmt: skip
    if alert.id not in run.report.unrecorded:
        run.report.unrecorded.append(alert.id)
    return False


def _update(store: Store, alert_id: int, values: dict[str, Any]) -> None:
    with store.write() as conn:
        conn.execute(update(alert_t).where(alert_t.c.id == alert_id).values(**values))


async def _fail(
    run: _Run, alert: _Due, error: str, *, counted: bool, done: Collection[str], jitter: float
) -> None:
    """Record a failed try (with the channels that did deliver it): retry later, or give up."""
    values = _failure(run, alert, error, counted=counted, jitter=jitter)
    await _record(run, alert, values | {"delivered": _json(done)})


def _failure(run: _Run, alert: _Due, error: str, *, counted: bool, jitter: float) -> dict[str, Any]:
    """The row's new values after a failed try (see the module on what counts); logged."""
    c, now, report = alert_t.c, run.clock(), run.report
    values: dict[str, Any] = {"last_error": error}
    tries = alert.attempts if counted else alert.attempts - 1
    if not counted:
        values["attempts"] = c.attempts - 1  # the claim's count is taken back
    too_old = now - alert.created_at >= GIVE_UP_AFTER
    if too_old or (counted and tries > run.settings.daemon.send_retries):
        if too_old:
            error = values["last_error"] = f"not delivered within {_days(GIVE_UP_AFTER)}: {error}"
        values |= {"gave_up_at": now, "next_attempt_at": None}
        log.error("alert %s (%s) given up after %s tries: %s", alert.id, alert.kind, tries, error)
        report.gave_up.append(alert.id)
    else:
        wait = (
            backoff(alert.attempts, jitter=jitter)
            if counted
            else outage_wait(now - alert.created_at, jitter=jitter)
        )
        values["next_attempt_at"] = now + wait
        what = f"try {tries}" if counted else "try (not counted: channel down)"
        log.warning("alert %s (%s) %s failed: %s", alert.id, alert.kind, what, error)
        report.retrying.append(alert.id)
    report.errors[alert.id] = error
    return values


def _days(span: timedelta) -> str:
    return f"{span.days} day" + ("" if span.days == 1 else "s")


def list_alerts(
    conn: Connection, *, pending: bool = False, limit: int | None = None
) -> list[Alert]:
    """The outbox, newest first; ``pending``: only alerts neither sent nor given up."""
    stmt = select(alert_t).order_by(alert_t.c.id.desc()).limit(limit)
    if pending:
        stmt = stmt.where(alert_t.c.sent_at.is_(None), alert_t.c.gave_up_at.is_(None))
    return [Alert.model_validate(dict(row._mapping)) for row in conn.execute(stmt)]


def get_alert(conn: Connection, alert_id: int) -> Alert | None:
    row = conn.execute(select(alert_t).where(alert_t.c.id == alert_id)).first()
    return None if row is None else Alert.model_validate(dict(row._mapping))
