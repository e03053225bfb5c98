"""What the crawler's tests share: a small tree, a parser, limits, and ways to run a crawl."""

from __future__ import annotations

import asyncio
import time
from zoneinfo import ZoneInfo

from monitor.crawl import CrawlLimits, CrawlResult, Timing, crawl
from monitor.sources.http import page_parser
from tests.servers import AutoindexServer, FakeTiming

TREE = {"a/x.txt": 3, "a/b/y.txt": 5, "a/b/c/z.txt": 8, "top.txt": 7, "empty/": 0}
PARSE = page_parser(ZoneInfo("UTC"))
FAST = CrawlLimits(rate=1e6, retries=2)
HTML = {"Content-Type": "text/html"}
#: The real clock and sleep, backoff at its top (no jitter): for what FakeTiming cannot show.
REAL = Timing(random=lambda: 1.0)


def run(
    server: AutoindexServer,
    fake: FakeTiming | None = None,
    limits: CrawlLimits = FAST,
    **kw: object,
) -> CrawlResult:
    timing = (fake or FakeTiming()).timing
    return asyncio.run(crawl(server.url, PARSE, limits=limits, timing=timing, **kw))  # type: ignore[arg-type]


def timed(
    server: AutoindexServer, limits: CrawlLimits, *, stop: float = 10.0
) -> tuple[CrawlResult, float]:
    """A crawl on the real clock and its seconds; one still running after ``stop`` fails."""
    started = time.monotonic()
    work = crawl(server.url, PARSE, limits=limits, timing=REAL)
    result = asyncio.run(asyncio.wait_for(work, stop))
    return result, time.monotonic() - started


def paths(result: CrawlResult) -> list[str]:
    return [e.path for e in result.entries]


def backoffs(fake: FakeTiming) -> list[float]:
    """The sleeps that were backoff, not request pacing (FAST paces at a microsecond)."""
    return [s for s in fake.sleeps if s >= 0.01]


#: Four folders of one file: for the tests on the real clock.
FOUR = {f"{name}/x.txt": 1 for name in "abcd"}
