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
4. On a failure: ``last_error`` and ``next_attempt_at = now + wait``; see *Giving up* below.

The database work runs in threads (:func:`asyncio.to_thread`), so a busy database never stalls
the daemon's event loop, where the polls run.

Exactly once: an alert (per channel) is marked only after its send succeeded, and a marked
channel is never sent again. The one window left is a crash between a successful send and its
mark: then the alert is sent once more after the claim expires (restart included), with the
same Message-ID, so mail clients and servers can recognise the duplicate.

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
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, Table, or_, select, update
from sqlmodel import SQLModel

from monitor.config import Settings
from monitor.errors import NotifyError
from monitor.notify.base import Channel, ChannelDown, configured_channels
from monitor.notify.render import render_alert
from monitor.store import Store
from monitor.store.models import Alert

log = logging.getLogger(__name__)

#: The outbox's clock: an aware datetime, read at each claim and each record.
Clock = Callable[[], datetime]

alert_t: Table = SQLModel.metadata.tables["alert"]

#: The shortest claim: how long a try may take before another worker (or this one, restarted)
#: may try again; longer when the channels' timeouts say so (:func:`claim_for`).
CLAIM_FOR = timedelta(minutes=5)
BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)
#: Alerts handled in one call at most (the rest wait for the next call).
BATCH_LIMIT = 200
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
    """How long a claim holds: twice the worst case of one alert's sends (every channel's
    timeouts added up, for the most recipients any alert has), and at least :data:`CLAIM_FOR`."""
    recipients = max([len(settings.notify.to), *(len(t.notify_to) for t in settings.targets)])
    sends = sum((c.longest_send(recipients) for c in channels), timedelta())
    return max(CLAIM_FOR, 2 * sends)


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
) -> DeliveryReport:
    """Send every due unsent alert (oldest first) on every configured channel; see the module.

    ``clock`` is read for each claim and record (default: the system's UTC clock); ``now``
    instead stops the clock at that moment (aware; for tests and one-shot commands). ``only``
    limits it to these alert ids; ``channels`` replaces the configured ones. Raises only
    :class:`~monitor.errors.StoreError`: delivery failures are recorded on the rows and in the
    report.
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
    due = await asyncio.to_thread(_read_due, store, clock(), only)
    for alert_id, delivered in due:
        needed = {c.name for c in channels} - delivered
        if needed and needed <= report.down.keys():
            report.waiting.append(alert_id)
            continue
        alert = await asyncio.to_thread(_claim, store, alert_id, clock(), hold)
        if alert is not None:
            await _deliver(store, settings, alert, channels, clock, report, jitter())
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


async def _deliver(
    store: Store,
    settings: Settings,
    alert: _Due,
    channels: Sequence[Channel],
    clock: Clock,
    report: DeliveryReport,
    jitter: float,
) -> None:
    failed = partial(_failed, store, settings, alert, clock=clock, report=report, jitter=jitter)
    if alert.attempts > settings.daemon.send_retries + 1:  # claimed every time, never recorded
        error = f"the sender stopped during each of {alert.attempts - 1} tries (crash or kill?)"
        await asyncio.to_thread(failed, error, counted=True)
        return
    try:
        payload = json.loads(alert.payload)
        message = render_alert(alert.kind, payload, settings, alert_id=alert.id, key=alert.key)
    except (NotifyError, ValueError) as exc:
        await asyncio.to_thread(failed, str(exc), counted=True)
        return
    message = replace(message, date=clock())
    done, errors, counted, marked_sent = set(alert.delivered), [], False, False
    for channel in channels:
        if channel.name in done:
            continue
        if channel.name in report.down:
            errors.append(f"{channel.name}: not tried, {report.down[channel.name]}")
            continue
        try:
            await channel.send(message)
        except NotifyError as exc:
            if isinstance(exc, ChannelDown):
                report.down[channel.name] = str(exc)
            else:
                counted = True
            errors.append(f"{channel.name}: {exc}")
            continue
        done.add(channel.name)
        marked_sent = all(c.name in done for c in channels)
        sent_at = clock() if marked_sent else None
        await asyncio.to_thread(_mark, store, alert.id, done, sent_at=sent_at)
    if errors:
        await asyncio.to_thread(failed, "; ".join(errors), counted=counted)
        return
    if not marked_sent:  # every channel had delivered it before this try
        await asyncio.to_thread(_mark, store, alert.id, done, sent_at=clock())
    log.info("alert %s (%s) sent: %s", alert.id, alert.kind, message.subject)
    report.sent.append(alert.id)


def _mark(store: Store, alert_id: int, done: set[str], *, sent_at: datetime | None) -> None:
    values: dict[str, Any] = {"delivered": json.dumps(sorted(done))}
    if sent_at is not None:
        values |= {"sent_at": sent_at, "next_attempt_at": None, "last_error": None}
    with store.write() as conn:
        conn.execute(update(alert_t).where(alert_t.c.id == alert_id).values(**values))


def _failed(
    store: Store,
    settings: Settings,
    alert: _Due,
    error: str,
    *,
    counted: bool,
    clock: Clock,
    report: DeliveryReport,
    jitter: float,
) -> None:
    """Record a failed try: retry later, or give up (see the module on what counts)."""
    c, now = alert_t.c, clock()
    values: dict[str, Any] = {"last_error": error}
    tries = alert.attempts if counted else alert.attempts - 1
    if not counted:
        values["attempts"] = c.attempts - 1  # the claim's count is taken back
    too_old = now - alert.created_at >= GIVE_UP_AFTER
    if too_old or (counted and tries > settings.daemon.send_retries):
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
    with store.write() as conn:
        conn.execute(update(alert_t).where(c.id == alert.id).values(**values))


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
