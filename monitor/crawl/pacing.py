"""Politeness: the spacing of requests, backoff between tries, and what ``Retry-After`` asks."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from monitor.crawl.options import Timing

BACKOFF_BASE = 0.5
BACKOFF_CAP = 60.0


class Pacer:
    """Spaces request starts at least ``1 / rate`` seconds apart; :meth:`hold` pauses them all.

    Starts are handed out in turn: each request is promised the next free one and sleeps until
    it. A :meth:`hold` breaks every promise not yet kept: each sleeper, when it wakes, takes a
    new start after the hold, in the same turn. No one sleeps past the ``deadline`` given to
    :meth:`wait`: a start at or after it is refused at once, and not promised.
    """

    def __init__(self, rate: float, timing: Timing) -> None:
        self._interval = 1.0 / rate
        self._next = -math.inf  # the first start not promised yet
        self._last = -math.inf  # the last start kept
        self._holds = 0  # how many holds came, to tell a broken promise
        self._held = -math.inf  # the end of the longest hold
        self._timing = timing

    async def wait(self, deadline: float = math.inf) -> bool:
        """Sleep until this request may start; False (at once) when that is past ``deadline``."""
        while True:
            now = self._timing.clock()
            start = max(now, self._next)
            if start >= deadline:
                return False
            self._next = start + self._interval
            holds = self._holds
            if start > now:
                await self._timing.sleep(start - now)
            if holds == self._holds:
                self._last = start
                return True

    def hold(self, until: float) -> None:
        """No start before ``until`` (nor before a longer hold ends, nor closer than
        ``1 / rate`` to the last one)."""
        self._held = max(self._held, until)
        self._next = max(self._held, self._last + self._interval)
        self._holds += 1


def backoff(attempt: int, random: Callable[[], float]) -> float:
    """Seconds to wait after failed try ``attempt`` (0 first): "full jitter", capped."""
    delay: float = random() * min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)
    return delay


def retry_after(
    headers: Mapping[str, str], wall: Callable[[], datetime], cap: float = 1e7
) -> float | None:
    """Seconds a ``Retry-After`` asks for (a number or an HTTP date), at most ``cap``.

    None when the header is absent or not understood.
    """
    value = headers.get("retry-after", "").strip()
    if value.isascii() and value.isdigit():
        return float(min(int(value[:12]), cap))
    when, now = http_date(value), http_date(headers.get("date", ""))
    if when is None:
        return None
    seconds = (when - (now or wall())).total_seconds()
    return max(0.0, min(seconds, cap))


def http_date(value: str) -> datetime | None:
    """An HTTP date (``Date``, ``Retry-After``) as an aware datetime; None when it is not one."""
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
