"""Schedules as APScheduler 3 triggers, and the scheduler that runs them.

A target polls ``every`` (an interval) or on ``cron`` (a crontab line in the configured time
zone, which wins over ``every``), each run up to ``jitter`` later at random. Crontab lines
mean what they mean to cron: weekday 0 and 7 are Sunday (APScheduler 3 counts from Monday, so
numeric weekdays are translated), and when both the day of month and the weekday are
restricted a day matching either one fires, as in Vixie cron.

Nothing here runs at import time: :func:`build_scheduler` makes a scheduler, the functions
below make triggers and times from a target, a zone and an injected "now".
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config import Defaults, Settings

Trigger = Any  # APScheduler 3 ships no type hints

_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_WEEKDAY_PART = re.compile(r"(\*|[a-z]{3}|\d+)(?:-([a-z]{3}|\d+))?(?:/(\d+))?")


def weekday_field(field: str) -> str:
    """A crontab weekday field in APScheduler 3's words: ``"1-5"`` → ``"mon,tue,wed,thu,fri"``.

    APScheduler 3 reads ``0`` as Monday and ``*/2`` from Monday; cron reads ``0`` (and ``7``)
    as Sunday. Every part is expanded into day names, which both read alike.
    """
    if field == "*":
        return field
    days: set[int] = set()
    for part in field.lower().split(","):
        match = _WEEKDAY_PART.fullmatch(part)
        if match is None:
            raise ValueError(f"cannot read weekday {part!r} in {field!r}")
        first, last, step = match.groups()
        low = 0 if first == "*" else _day_number(first)
        high = 6 if first == "*" else _day_number(last) if last else low
        if last and high == 0 and low > 0:
            high = 7  # "5-0": Friday to Sunday
        if high < low:
            raise ValueError(f"weekday range {part!r} runs backwards")
        if step and not last and first != "*":
            high = 6
        days.update(d % 7 for d in range(low, high + 1, int(step or 1)))
    return ",".join(_DAYS[d] for d in sorted(days))


def _day_number(text: str) -> int:
    if text.isdigit():
        number = int(text)
        if number > 7:
            raise ValueError(f"a weekday is 0-7 (0 and 7 are Sunday), got {text}")
        return number
    if text not in _DAYS:
        raise ValueError(f"unknown weekday {text!r}")
    return _DAYS.index(text)


def cron_trigger(expression: str, zone: ZoneInfo, *, jitter: float | None = None) -> Trigger:
    """The trigger of a 5-field crontab line in ``zone``."""
    minute, hour, day, month, weekday = expression.split()
    fields = {"minute": minute, "hour": hour, "month": month, "timezone": zone, "jitter": jitter}
    dow = weekday_field(weekday)
    if day.startswith("*") or weekday.startswith("*"):
        return CronTrigger(day=day, day_of_week=dow, **fields)
    # Both restricted: cron fires on a day that matches either.
    by_day = CronTrigger(day=day, **fields)
    by_weekday = CronTrigger(day_of_week=dow, **fields)
    return OrTrigger([by_day, by_weekday], jitter=jitter)


def target_trigger(
    target: Defaults, zone: ZoneInfo, *, jitter: bool = True, start: datetime | None = None
) -> Trigger:
    """When ``target`` polls: its cron line if set, else every ``every`` from ``start``.

    An interval's jitter is at most half the interval, so polls keep their order and pace.
    """
    spread = target.jitter.total_seconds() if jitter else 0.0
    if target.cron:
        return cron_trigger(target.cron, zone, jitter=spread or None)
    spread = min(spread, target.every.total_seconds() / 2)
    return IntervalTrigger(
        seconds=target.every.total_seconds(),
        start_date=start,
        timezone=zone,
        jitter=spread or None,
    )


def interval_of(target: Defaults, zone: ZoneInfo, now: datetime) -> timedelta:
    """The time between two polls: ``every``, or the gap between a cron line's next two runs."""
    if not target.cron:
        return target.every
    trigger = target_trigger(target, zone, jitter=False)
    first = trigger.get_next_fire_time(None, now)
    second = trigger.get_next_fire_time(first, first + timedelta(microseconds=1))
    gap: timedelta = second - first
    return gap


def backoff_delay(interval: timedelta, failures: int, cap: timedelta) -> timedelta:
    """The wait before the next poll after ``failures`` failed polls in a row.

    ``interval * 2**(failures-1)``, at most ``cap``, never shorter than the interval.
    """
    if failures <= 0:
        return interval
    longer = interval.total_seconds() * float(1 << min(failures - 1, 62))
    return max(interval, min(timedelta(seconds=min(longer, cap.total_seconds())), cap))


def first_run(
    target: Defaults,
    zone: ZoneInfo,
    *,
    now: datetime,
    last_poll: datetime | None,
    failures: int = 0,
    backoff_max: timedelta,
) -> datetime:
    """When a target polls first after a start or a reschedule, from its last poll.

    Never polled: now. Otherwise when its schedule (or its backoff, after ``failures`` failed
    polls in a row) says the next poll is due after the last one; a run missed while the
    daemon was down is made up once, now.
    """
    if last_poll is None:
        return now
    if failures:
        interval = interval_of(target, zone, now)
        due = last_poll + backoff_delay(interval, failures, backoff_max)
    elif target.cron:
        due = target_trigger(target, zone, jitter=False).get_next_fire_time(None, last_poll)
        if due <= last_poll:  # a poll exactly on a run time: the run after it
            due = target_trigger(target, zone, jitter=False).get_next_fire_time(
                due, due + timedelta(microseconds=1)
            )
    else:
        due = last_poll + target.every
    return max(now, due)


def last_digest_due(now: datetime, zone: ZoneInfo, at: time) -> datetime:
    """The last moment at or before ``now`` when a digest was due (``at`` each day in ``zone``)."""
    local = now.astimezone(zone)
    today = datetime.combine(local.date(), at, tzinfo=zone)
    return today if local >= today else today - timedelta(days=1)


def last_digest_day(now: datetime, zone: ZoneInfo, at: time) -> date:
    """The day whose digest was due last at or before ``now``: the day before that moment."""
    return last_digest_due(now, zone, at).date() - timedelta(days=1)


class _SkipNotice(logging.Filter):
    """Drops APScheduler's warning about a skipped run: the daemon logs its own line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances" not in str(record.msg)


def build_scheduler(settings: Settings) -> AsyncIOScheduler:
    """An AsyncIOScheduler in the configured zone: one run at a time per job, late runs
    coalesced into one and never dropped for being late. Not started."""
    logging.getLogger("apscheduler.scheduler").addFilter(_SkipNotice())
    return AsyncIOScheduler(
        timezone=settings.zone,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
