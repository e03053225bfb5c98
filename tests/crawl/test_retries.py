"""Requests: retries and backoff, Retry-After, overload, timeouts and the poll's deadline,
pacing; against a real (fault-injecting) HTTP server on 127.0.0.1, time faked unless said."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from monitor.crawl import (
    CrawlLimits,
    Pacer,
    retry_after,
)
from monitor.sources.base import FolderFailure
from tests.crawl.helpers import (
    FOUR,
    backoffs,
    paths,
    run,
    timed,
)
from tests.servers import (
    MTIME,
    AutoindexServer,
    FakeTiming,
    http_date,
)

# --- retries -----------------------------------------------------------------------------------


def test_5xx_is_retried_with_exponential_backoff_then_succeeds(server: AutoindexServer) -> None:
    server.fail("a/b", 503, times=2)
    fake = FakeTiming()
    result = run(server, fake)
    assert result.failed == [] and "a/b/y.txt" in paths(result)
    assert server.count("/drop/a/b/") == 3
    assert backoffs(fake) == [0.5, 1.0]  # full jitter at its top: 0.5 * 2**attempt


def test_jitter_scales_the_backoff(server: AutoindexServer) -> None:
    server.fail("a", 500, times=2)
    fake = FakeTiming(jitter=0.25)
    run(server, fake)
    assert backoffs(fake) == [0.125, 0.25]


def test_a_folder_failing_after_its_retries_is_a_failure_and_the_rest_is_listed(
    server: AutoindexServer,
) -> None:
    server.fail("a/b", 500)
    result = run(server)
    assert result.failed == [FolderFailure("a/b", "HTTP 500 Internal Server Error")]
    assert server.count("/drop/a/b/") == 3  # one try and two retries
    assert "a/b" in paths(result)  # the folder itself was seen in its parent
    assert not any(p.startswith("a/b/") for p in paths(result))
    assert "a/x.txt" in paths(result)


def test_retry_after_in_seconds_pauses_the_target(server: AutoindexServer) -> None:
    server.fail("a", 429, times=1, headers={"Retry-After": "7"})
    fake = FakeTiming()
    result = run(server, fake)
    assert result.failed == []
    assert 7 in backoffs(fake)


def test_retry_after_as_a_date_is_read_against_the_servers_date(server: AutoindexServer) -> None:
    now = MTIME + timedelta(days=3)
    later = http_date(now + timedelta(seconds=30))
    server.fail("a", 503, times=1, headers={"Retry-After": later, "Date": http_date(now)})
    fake = FakeTiming()
    run(server, fake)
    assert 30 in backoffs(fake)


def test_retry_after_past_the_poll_deadline_gives_up(server: AutoindexServer) -> None:
    server.fail("a", 429, headers={"Retry-After": "86400"})
    result = run(server, limits=CrawlLimits(rate=1e6, poll_timeout=600))
    assert result.failed == [
        FolderFailure("a", "HTTP 429 Too Many Requests; no time left in the poll to retry")
    ]
    assert server.count("/drop/a/") == 1


@pytest.mark.parametrize(
    ("status", "reason"),
    [(401, "HTTP 401 Unauthorized"), (403, "HTTP 403 Forbidden"), (404, "HTTP 404 Not Found")],
)
def test_client_errors_fail_the_folder_without_retries(
    server: AutoindexServer, status: int, reason: str
) -> None:
    server.fail("a", status)
    result = run(server)
    assert result.failed == [FolderFailure("a", reason)]
    assert server.count("/drop/a/") == 1


def test_a_hanging_folder_times_out(server: AutoindexServer) -> None:
    server.hang("a/b")
    result = run(server, limits=CrawlLimits(rate=1e6, retries=0, timeout=0.2))
    assert result.failed == [FolderFailure("a/b", "timed out after 0.2 s")]


def test_the_poll_deadline_fails_what_is_left(server: AutoindexServer) -> None:
    # One request a second and a poll of 1.5 s: the root and one folder, then time is up.
    result = run(server, limits=CrawlLimits(rate=1, concurrency=1, poll_timeout=1.5))
    assert [r.path for r in server.requests] == ["/drop/", "/drop/a/"]
    assert result.failed == [
        FolderFailure("a/b", "poll_timeout (1.5 s) reached"),
        FolderFailure("empty", "poll_timeout (1.5 s) reached"),
    ]


# The poll's deadline on the real clock: FakeTiming's clock jumps, so it cannot show a worker
# that sleeps past the deadline. Each crawl is stopped after 10 s (a hang fails, it does not
# block the suite) and must end well within 3 s of a one-second poll_timeout.


@pytest.mark.parametrize("retry_after", ["20", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_a_retry_after_past_the_deadline_holds_no_one_on_the_real_clock(retry_after: str) -> None:
    with AutoindexServer(FOUR) as server:
        server.fail("a", 503, headers={"Retry-After": retry_after})
        result, seconds = timed(server, CrawlLimits(rate=1e6, concurrency=2, poll_timeout=1))
    assert seconds < 3
    reason = "HTTP 503 Service Unavailable; no time left in the poll to retry"
    assert result.failed == [FolderFailure("a", reason)]
    assert paths(result) == ["a", "b", "b/x.txt", "c", "c/x.txt", "d", "d/x.txt"]
    assert server.count("/drop/a/") == 1


def test_a_slow_rate_ends_at_the_deadline_on_the_real_clock(server: AutoindexServer) -> None:
    # One request every 20 s, a poll of 1 s: after the root, the waiting folders fail at once.
    result, seconds = timed(server, CrawlLimits(rate=0.05, concurrency=2, poll_timeout=1))
    assert seconds < 3
    late = "poll_timeout (1 s) reached"
    assert result.failed == [FolderFailure("a", late), FolderFailure("empty", late)]
    assert [r.path for r in server.requests] == ["/drop/"]


def test_a_retry_after_is_cut_to_the_time_left() -> None:
    headers = httpx.Headers({"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"})
    assert retry_after(headers, lambda: MTIME, cap=12.5) == 12.5
    assert retry_after(httpx.Headers({"Retry-After": "9" * 5000}), lambda: MTIME, cap=3) == 3
    superscript = httpx.Headers([(b"Retry-After", "\u00b2".encode())])  # a digit, says isdigit
    assert retry_after(superscript, lambda: MTIME) is None


@pytest.mark.parametrize("status", [429, 503])
def test_an_overloaded_server_slows_the_whole_target(status: int) -> None:
    # 429 or 503 without Retry-After: the other folders wait as long as the backoff (0.5 s).
    with AutoindexServer(FOUR) as server:
        server.fail("a", status, times=1)
        result, _ = timed(server, CrawlLimits(rate=20, concurrency=2, poll_timeout=30))
    assert result.failed == [] and "a/x.txt" in paths(result)
    refused = next(r.at for r in server.requests if r.path == "/drop/a/")
    after = [r.at - refused for r in server.requests if r.at > refused and r.path != "/drop/a/"]
    assert after and min(after) >= 0.45


def test_a_500_slows_only_its_own_folder() -> None:
    with AutoindexServer(FOUR) as server:
        server.fail("a", 500, times=1)
        timed(server, CrawlLimits(rate=20, concurrency=2, poll_timeout=30))
    refused = next(r.at for r in server.requests if r.path == "/drop/a/")
    after = [r.at - refused for r in server.requests if r.at > refused and r.path != "/drop/a/"]
    assert after and min(after) < 0.3


# --- small parts -------------------------------------------------------------------------------


def test_retry_after_values() -> None:
    wall = MTIME
    assert retry_after(httpx.Headers({"Retry-After": "120"}), lambda: wall) == 120
    later = http_date(MTIME + timedelta(minutes=2))
    assert retry_after(httpx.Headers({"Retry-After": later}), lambda: wall) == 120
    assert retry_after(httpx.Headers({"Retry-After": "soon"}), lambda: wall) is None
    assert retry_after(httpx.Headers({}), lambda: wall) is None
    past = http_date(MTIME - timedelta(minutes=2))
    assert retry_after(httpx.Headers({"Retry-After": past}), lambda: wall) == 0


def test_pacer_spaces_starts_and_holds() -> None:
    fake = FakeTiming()
    pacer = Pacer(2.0, fake.timing)

    async def go() -> None:
        for _ in range(3):
            await pacer.wait()
        pacer.hold(fake.now + 10)
        await pacer.wait()

    asyncio.run(go())
    assert fake.sleeps == [0.5, 0.5, 10.0]


def test_a_shorter_hold_does_not_cut_a_longer_one_short() -> None:
    """One download is told Retry-After: 30, another's 503 backs off for 0.2 s: nothing
    starts before the 30 s the server asked for."""
    fake = FakeTiming()
    pacer = Pacer(1000.0, fake.timing)

    async def go() -> None:
        pacer.hold(fake.now + 30)
        pacer.hold(fake.now + 0.2)
        await pacer.wait()

    asyncio.run(go())
    assert fake.sleeps == [30.0]
