"""What a crawl is handed: its limits, what every request carries, its clock, its page parser."""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from monitor.sources.listings import Page
from monitor.sources.local import GlobSet, Rules

#: No include / exclude rules: every entry is listed.
NO_RULES = Rules(GlobSet(None, None), GlobSet(None, None), active=False)

#: Turns a page into items: (body, URL of the page, response headers) → Page, or NotAListing.
ParsePage = Callable[[bytes, str, httpx.Headers], Page]


@dataclass(frozen=True, slots=True)
class Timing:
    """Where the crawl gets time: monotonic clock, sleep, jitter and the wall clock."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    random: Callable[[], float] = random.random
    wall: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class CrawlLimits:
    """How hard and how far one crawl may go (seconds, bytes, counts)."""

    concurrency: int = 8
    rate: float = 10.0
    retries: int = 3
    timeout: float = 30.0
    poll_timeout: float = 1800.0
    max_depth: int = 32
    max_entries: int = 1_000_000
    max_page_bytes: int = 16 * 2**20


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """What every request carries: headers, authentication, TLS settings."""

    headers: dict[str, str] = field(default_factory=dict)
    auth: httpx.Auth | None = None
    verify: ssl.SSLContext | bool = True
