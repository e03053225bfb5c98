"""Politeness: the spacing of requests, backoff between tries, and what ``Retry-After`` asks."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from monitor.crawl.options import Timing

BACKOFF_BASE = 0.5
BACKOFF_CAP = 60.0


class Pacer:
    """Spaces request starts at least ``1 / rate`` seconds apart; :meth:`hold` pauses them all."""

    def __init__(self, rate: float, timing: Timing) -> None:
        self._interval = 1.0 / rate
        self._next = -math.inf
        self._timing = timing

    async def wait(self) -> None:
        now = self._timing.clock()
        start = max(now, self._next)
        self._next = start + self._interval
        if start > now:
            await self._timing.sleep(start - now)

    def hold(self, until: float) -> None:
        self._next = max(self._next, until)


def backoff(attempt: int, random: Callable[[], float]) -> float:
    """Seconds to wait after failed try ``attempt`` (0 first): "full jitter", capped."""
    delay: float = random() * min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)
    return delay


def retry_after(headers: httpx.Headers, wall: Callable[[], datetime]) -> float | None:
    """Seconds a ``Retry-After`` asks for (a number or an HTTP date); None when absent or bad."""
    value = headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(min(int(value), 10**7))
    when, now = http_date(value), http_date(headers.get("date", ""))
    if when is None:
        return None
    return max(0.0, (when - (now or wall())).total_seconds())


def http_date(value: str) -> datetime | None:
    """An HTTP date (``Date``, ``Retry-After``) as an aware datetime; None when it is not one."""
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
