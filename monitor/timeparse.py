"""Moments and days as people type them on the command line."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.errors import UsageError


def parse_moment(text: str, zone: ZoneInfo, *, now: datetime | None = None) -> datetime:
    """``now``, ``today``, ``yesterday``, a date or an ISO 8601 time (no offset: ``zone``)."""
    word = text.strip().lower()
    current = now or datetime.now(zone)
    if word == "now":
        return current
    if word in {"today", "yesterday"}:
        day = parse_day(word, zone, now=current)
        return datetime.combine(day, datetime.min.time(), tzinfo=zone)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise UsageError(
            f"not a time: {text!r} (use ISO 8601, e.g. '2026-11-24 18:00' or '2026-11-24')"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def parse_day(text: str, zone: ZoneInfo, *, now: datetime | None = None) -> date:
    """``today``, ``yesterday`` or ``YYYY-MM-DD``, in ``zone``."""
    word = text.strip().lower()
    today = (now or datetime.now(zone)).astimezone(zone).date()
    if word == "today":
        return today
    if word == "yesterday":
        return today - timedelta(days=1)
    try:
        return date.fromisoformat(word)
    except ValueError as exc:
        raise UsageError(f"not a day: {text!r} (use YYYY-MM-DD, today or yesterday)") from exc
