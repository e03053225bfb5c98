"""The crawler against a real (fault-injecting) HTTP server on 127.0.0.1; time is faked."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from monitor.crawl import (
    NO_RULES,
    BoundedBody,
    ClientOptions,
    Clients,
    CrawlLimits,
    CrawlResult,
    CrawlStats,
    Pacer,
    PageCache,
    Scope,
    Timing,
    crawl,
    retry_after,
)
from monitor.crawl.body import Truncated
from monitor.crawl.walk import Folder, Walk
from monitor.errors import RootUnavailable
from monitor.sources.base import FolderFailure
from monitor.sources.http import page_parser
from monitor.sources.listings import ListedItem, Page
from monitor.sources.local import GlobSet, Rules
from tests.servers import (
    MTIME,
    AutoindexServer,
    FakeTiming,
    Fault,
    free_port,
    http_date,
    nginx,
    nginx_page,
)

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


@pytest.fixture
def server() -> AutoindexServer:
    with AutoindexServer(TREE) as running:
        yield running  # type: ignore[misc]


# --- the walk ----------------------------------------------------------------------------------


def test_lists_every_folder_once_with_what_the_page_shows(server: AutoindexServer) -> None:
    result = run(server)
    expected = ["a", "a/b", "a/b/c", "a/b/c/z.txt", "a/b/y.txt", "a/x.txt", "empty", "top.txt"]
    assert paths(result) == expected
    assert result.failed == [] and result.skipped == 0 and result.folders == 5
    by_path = {e.path: e for e in result.entries}
    assert (by_path["a"].type, by_path["a"].size, by_path["a"].mtime_ns) == ("dir", None, None)
    if "nginx" in result.stats.formats:  # the nginx parser gives sizes and minutes
        assert by_path["a/b/c/z.txt"].size == 8
        assert by_path["top.txt"].mtime_ns == int(MTIME.timestamp()) * 10**9
    requested = sorted(r.path for r in server.requests)
    assert requested == sorted(["/drop/", "/drop/a/", "/drop/a/b/", "/drop/a/b/c/", "/drop/empty/"])
    assert result.stats.requests == 5
    pages = [nginx_page(server.path_of(f), server.items(f)) for f in server.folders()]
    assert result.stats.bytes == sum(len(page) for page in pages)
    assert (result.stats.ip, result.stats.tls_sha256) == ("127.0.0.1", None)
    assert result.stats.server is not None and result.stats.server.startswith("fault-autoindex")


def test_keeps_connections_alive_and_caps_concurrency() -> None:
    files = {f"d{i:02}/f.txt": i for i in range(24)}
    with AutoindexServer(files) as server:
        server.fail("d03", 500, times=1)  # an error answer keeps its connection too
        result = run(server, limits=CrawlLimits(rate=1e6, concurrency=3))
    assert len(result.entries) == 48 and result.failed == []
    assert server.most_in_flight <= 3
    assert len({r.client for r in server.requests}) <= 3  # 26 requests over at most 3 connections


def test_requests_are_paced_by_rate(server: AutoindexServer) -> None:
    fake = FakeTiming()
    run(server, fake, CrawlLimits(rate=4, concurrency=4))
    assert len(server.requests) == 5
    assert fake.now - 1000.0 == pytest.approx(4 * 0.25)  # five starts, a quarter second apart


def test_progress_is_reported(server: AutoindexServer) -> None:
    seen: list[tuple[int, int]] = []
    run(server, progress=lambda entries, folders: seen.append((entries, folders)))
    assert seen[-1] == (8, 5)


def test_a_bug_in_a_worker_is_raised_not_hung(server: AutoindexServer) -> None:
    def parse(body: bytes, url: str, headers: httpx.Headers) -> Page:
        if url.endswith("/b/"):
            raise RuntimeError("parser bug")
        return PARSE(body, url, headers)

    with pytest.raises(RuntimeError, match="parser bug"):
        asyncio.run(crawl(server.url, parse, limits=FAST, timing=FakeTiming().timing))


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
FOUR = {f"{name}/x.txt": 1 for name in "abcd"}


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


# --- the root ----------------------------------------------------------------------------------


def test_root_refused() -> None:
    url = f"http://127.0.0.1:{free_port()}/drop/"
    fake = FakeTiming()
    with pytest.raises(RootUnavailable) as caught:
        asyncio.run(crawl(url, PARSE, limits=CrawlLimits(retries=1), timing=fake.timing))
    assert caught.value.message == f"cannot list {url}: connection refused"
    assert backoffs(fake) == [0.5]


@pytest.mark.parametrize(
    ("status", "reason"), [(401, "HTTP 401 Unauthorized"), (404, "HTTP 404 Not Found")]
)
def test_root_client_error(server: AutoindexServer, status: int, reason: str) -> None:
    server.fail("", status)
    with pytest.raises(RootUnavailable) as caught:
        run(server)
    assert caught.value.message == f"cannot list {server.url}: {reason}"


def test_a_login_page_is_not_a_listing(server: AutoindexServer) -> None:
    server.login("a")
    assert run(server).failed == [FolderFailure("a", "not a directory listing: login form")]
    server.login("")
    with pytest.raises(RootUnavailable) as caught:
        run(server)
    assert caught.value.message == f"cannot list {server.url}: not a directory listing: login form"
    assert server.count("/drop/a/forgot/") == 0


# --- one format per server --------------------------------------------------------------------

PYHTTP_PAGE = b"""<!DOCTYPE HTML><html lang="en"><head><meta charset="utf-8">
<title>Directory listing for /drop/a/</title></head><body>
<h1>Directory listing for /drop/a/</h1><hr><ul><li><a href="x.txt">x.txt</a></li></ul><hr>
</body></html>"""
LINKS_PAGE = b"""<html><head><title>Just a moment...</title></head><body><h1>Index of /drop/a/</h1>
<p><a href="x.txt">x.txt</a> <a href="y.txt">y.txt</a> <a href="z/">z</a> <a href="v/">v</a>
<a href="w/">w</a> <a href="continue/">continue</a></p></body></html>"""


@pytest.mark.parametrize("body", [PYHTTP_PAGE, LINKS_PAGE], ids=["pyhttp", "links"])
def test_a_folder_in_another_format_than_the_root_fails(
    server: AutoindexServer, body: bytes
) -> None:
    # A login or challenge page with links, or names that trick detection, under nginx's root.
    server.faults["/drop/a/"] = Fault(200, None, HTML, body)
    result = run(server)
    [failure] = result.failed
    assert failure.path == "a"
    assert failure.reason.startswith("not the server's listing format: ")
    assert failure.reason.endswith(" (the root's is nginx)")
    assert not any(p.startswith("a/") for p in paths(result))
    assert result.stats.formats == {"nginx"}


def json_listing(*items: tuple[str, int | None]) -> Fault:
    """nginx's ``autoindex_format json``: (name, size or None for a folder)."""
    when = "Fri, 20 Nov 2026 09:00:00 GMT"
    entries = [
        {"name": n, "type": "directory", "mtime": when}
        if size is None
        else {"name": n, "type": "file", "mtime": when, "size": size}
        for n, size in items
    ]
    return Fault(200, None, {"Content-Type": "application/json"}, json.dumps(entries).encode())


def test_an_empty_json_folder_goes_with_a_json_listing(server: AutoindexServer) -> None:
    server.faults["/drop/"] = json_listing(("full", None), ("empty", None), ("caddy", None))
    server.faults["/drop/full/"] = json_listing(("f.txt", 3))
    server.faults["/drop/empty/"] = Fault(200, None, {"Content-Type": "application/json"}, b"[]")
    caddy = [{"name": "c.txt", "size": 1, "url": "./c.txt", "is_dir": False, "mode": 420}]
    server.faults["/drop/caddy/"] = Fault(200, None, {}, json.dumps(caddy).encode())
    result = run(server)
    assert paths(result) == ["caddy", "empty", "full", "full/f.txt"]
    reason = "not the server's listing format: caddy-json (the root's is nginx-json)"
    assert result.failed == [FolderFailure("caddy", reason)]
    assert result.stats.formats == {"nginx-json", "json"}


# --- scope -------------------------------------------------------------------------------------


def test_links_out_of_scope_are_never_followed() -> None:
    with AutoindexServer(TREE) as other, AutoindexServer(TREE) as server:
        server.links["/drop/"] = [
            "../secret/",
            "/secret/",
            f"{other.url}a/",
            f"http://localhost:{server.port}/drop/a/",
            f"https://127.0.0.1:{server.port}/drop/a/",
            "a/?C=M;O=A",
            "a/#top",
            "%2e%2e/",
            "a/b/",
        ]
        result = run(server)
    assert other.requests == []
    assert {r.path for r in server.requests} == {
        "/drop/",
        "/drop/a/",
        "/drop/a/b/",
        "/drop/a/b/c/",
        "/drop/empty/",
    }
    assert len(server.requests) == 5
    assert result.failed == []


def test_a_redirect_within_scope_is_followed(server: AutoindexServer) -> None:
    server.files["old/"] = 0
    server.redirect("old", "/drop/new/")
    page = nginx_page("/drop/new/", [("inside.txt", False, 4, MTIME)])
    server.faults["/drop/new/"] = Fault(200, None, {"Content-Type": "text/html"}, page)
    result = run(server)
    assert "old/inside.txt" in paths(result) and result.failed == []
    assert server.count("/drop/new/") == 1


def test_a_redirect_to_a_folder_listed_already_is_not_followed(server: AutoindexServer) -> None:
    server.redirect("empty", "/drop/a/")
    result = run(server)
    reason = f"redirects to {server.url}a/, listed already"
    assert result.failed == [FolderFailure("empty", reason)]
    assert server.count("/drop/a/") == 1


@pytest.mark.parametrize(
    "location",
    ["/elsewhere/", "https://127.0.0.1:{port}/drop/a/", "http://127.0.0.1:{other}/drop/a/"],
)
def test_a_redirect_out_of_scope_fails_the_folder(server: AutoindexServer, location: str) -> None:
    with AutoindexServer(TREE) as other:
        target = location.format(port=server.port, other=other.port)
        server.redirect("a", target)
        result = run(server)
    assert [f.path for f in result.failed] == ["a"]
    assert result.failed[0].reason.startswith("redirected out of scope to ")
    assert other.requests == []
    assert server.count("/elsewhere/") == 0


def test_redirects_stop_after_five(server: AutoindexServer) -> None:
    for hop in range(7):
        server.faults[f"/drop/r{hop}/"] = Fault(302, None, {"Location": f"/drop/r{hop + 1}/"})
    server.redirect("a", "/drop/r0/")
    result = run(server)
    assert result.failed == [FolderFailure("a", "more than 5 redirects")]
    assert server.count("/drop/r5/") == 0


ALIASED = {"archive/v1/old.txt": 1, "archive/v2/f1.txt": 1, "archive/v2/f2.txt": 2, "latest/": 0}


@pytest.mark.parametrize("concurrency", [1, 8])
def test_a_redirect_to_a_folder_listed_later_fails_the_alias_not_the_folder(
    concurrency: int,
) -> None:
    # With 8 workers latest/ is followed to archive/v2/ while archive/ is still being listed.
    with AutoindexServer(ALIASED) as server:
        server.redirect("latest", "/drop/archive/v2/")
        server.delays["/drop/archive/"] = 0.3
        result = run(server, limits=CrawlLimits(rate=1e6, concurrency=concurrency))
    assert paths(result) == [
        "archive",
        "archive/v1",
        "archive/v1/old.txt",
        "archive/v2",
        "archive/v2/f1.txt",
        "archive/v2/f2.txt",
        "latest",
    ]
    reason = f"redirects to {server.url}archive/v2/, listed already"
    assert result.failed == [FolderFailure("latest", reason)]
    assert server.count("/drop/archive/v2/") == 1


@pytest.mark.parametrize("concurrency", [1, 8])
def test_folders_redirecting_where_no_listing_leads_go_to_the_first_by_path(
    concurrency: int,
) -> None:
    with AutoindexServer({"x/": 0, "y/": 0, "z/": 0}) as server:
        page = nginx_page("/drop/hidden/", [("h.txt", False, 1, MTIME)])
        server.faults["/drop/hidden/"] = Fault(200, None, HTML, page)
        server.redirect("x", "/drop/hidden/")
        server.redirect("y", "/drop/hidden/")
        server.delays["/drop/x/"] = 0.3  # y's redirect is followed first
        result = run(server, limits=CrawlLimits(rate=1e6, concurrency=concurrency))
    assert paths(result) == ["x", "x/h.txt", "y", "z"]
    assert result.failed == [
        FolderFailure("y", f"redirects to {server.url}hidden/, listed already")
    ]
    assert server.count("/drop/hidden/") == 1


@pytest.mark.parametrize("concurrency", [1, 8])
def test_a_folder_whose_url_a_redirect_listed_already_is_a_failure(concurrency: int) -> None:
    # p/ → hp/, which lists latest/ → hidden/, which lists v2/; x/ → hidden/v2/. x/ gets
    # hidden/v2/ first (no listing leads there when it is given), so p/latest/v2 is the alias.
    with AutoindexServer({"p/": 0, "x/": 0}) as server:
        pages = {
            "hp/": [("latest", True, 0, MTIME)],
            "hidden/": [("v2", True, 0, MTIME)],
            "hidden/v2/": [("f.txt", False, 1, MTIME)],
        }
        for folder, items in pages.items():
            path = f"/drop/{folder}"
            server.faults[path] = Fault(200, None, HTML, nginx_page(path, items))
        server.redirect("p", "/drop/hp/")
        server.faults["/drop/hp/latest/"] = Fault(302, None, {"Location": "/drop/hidden/"})
        server.redirect("x", "/drop/hidden/v2/")
        result = run(server, limits=CrawlLimits(rate=1e6, concurrency=concurrency))
    assert paths(result) == ["p", "p/latest", "p/latest/v2", "x", "x/f.txt"]
    reason = "not listed: its URL is that of x, listed already"
    assert result.failed == [FolderFailure("p/latest/v2", reason)]
    assert server.count("/drop/hidden/v2/") == 1


def test_a_redirect_to_a_url_without_a_final_slash_fails_the_folder(
    server: AutoindexServer,
) -> None:
    # Links on a page at /drop/a resolve against /drop/: read as a's, they would be lost.
    server.redirect("a", "/drop/a", status=301)
    page = nginx_page("/drop/a", [("x.txt", False, 1, MTIME)])
    server.faults["/drop/a"] = Fault(200, None, HTML, page)
    result = run(server)
    reason = f"redirected to {server.url}a, not a folder's URL (no / at the end)"
    assert result.failed == [FolderFailure("a", reason)]


def test_a_redirect_in_another_spelling_of_a_listed_folder_is_an_alias(
    server: AutoindexServer,
) -> None:
    server.files["caf\u00e9/"] = 0
    server.redirect("empty", "/drop/caf%c3%a9/")  # the listing's link says %C3%A9
    result = run(server)
    assert result.failed == [
        FolderFailure("empty", f"redirects to {server.url}caf%c3%a9/, listed already")
    ]
    assert server.count("/drop/caf%C3%A9/") + server.count("/drop/caf%c3%a9/") == 1


def test_scope() -> None:
    scope = Scope.of("https://h.example:8443/drop/%C3%A9/")
    assert scope.contains("https://h.example:8443/drop/%c3%a9/a%20b/")
    assert not scope.contains("https://h.example:8443/drop/")
    assert not scope.contains("http://h.example:8443/drop/%C3%A9/")
    assert not scope.contains("https://h.example/drop/%C3%A9/")
    assert not scope.contains("https://other.example:8443/drop/%C3%A9/")
    assert not scope.contains("https://h.example:8443/drop/%C3%A9/?x=1")
    assert not scope.contains("https://h.example:8443/drop/%C3%A9/#x")
    assert not scope.contains("https://u:p@h.example:8443/drop/%C3%A9/")
    assert not scope.contains("https://h.example:8443/drop/%C3%A9/%2E%2E/x/")
    assert Scope.of("http://h/").contains("http://h:80/a/")


@pytest.mark.parametrize(
    "path",
    [
        "..%2fsecret/",
        "..%2Fsecret/",
        "%2e%2e%2fsecret/",
        "..%5csecret/",
        "..%5C..%5C/",
        "a/..%5c..%5c/",
        "..;/secret/",
        "..%3b/secret/",
        ".;/x/",
        "a%00b/",
        "%2e/",
    ],
)
def test_scope_reads_a_path_as_the_server_decodes_it(path: str) -> None:
    assert not Scope.of("http://h/drop/").contains(f"http://h/drop/{path}")


def test_scope_compares_decoded_paths_and_punycode_hosts() -> None:
    scope = Scope.of("http://xn--bcher-kva.example/drop/")
    assert scope.contains("http://b\u00fccher.example/drop/a/")  # a Location in Unicode
    assert scope.contains("http://xn--bcher-kva.example/dro%70/a%2e%2e/..b/%25/")
    assert not scope.contains("http://xn--bcher-kva.example/drop")
    assert scope.key("http://xn--bcher-kva.example/drop/caf%c3%a9//x/") == "caf\u00e9/x"


def test_a_redirect_that_climbs_out_with_an_escaped_slash_is_refused(tmp_path: Path) -> None:
    # nginx decodes %2F and then "..": /drop/..%2fsecret/ is /secret/.
    www = tmp_path / "www"
    (www / "drop" / "evil").mkdir(parents=True)
    (www / "drop" / "ok.txt").write_bytes(b"ok")
    (www / "secret").mkdir()
    (www / "secret" / "password.txt").write_bytes(b"pw")
    locations = "    location = /drop/evil/ { return 302 /drop/..%2fsecret/; }"
    with nginx(www, tmp_path / "nginx", locations) as base:
        result = asyncio.run(crawl(f"{base}/drop/", PARSE, limits=FAST, timing=FakeTiming().timing))
        log = (tmp_path / "nginx" / "access.log").read_text()
    assert paths(result) == ["evil", "ok.txt"]
    [failure] = result.failed
    assert failure.path == "evil" and failure.reason.startswith("redirected out of scope to ")
    assert failure.reason.endswith("/drop/..%2fsecret/")
    assert "secret" not in log.replace("..%2fsecret", "")  # only the redirect named it


def test_a_name_that_climbs_out_is_not_listed(server: AutoindexServer) -> None:
    hostile = ["..\\..\\", "..\\", "..;", "a\x00b"]

    def parse(body: bytes, url: str, headers: httpx.Headers) -> Page:
        page = PARSE(body, url, headers)
        if url == server.url:  # names a parser might let through, as one segment each
            page.items.extend(ListedItem(name, True) for name in hostile)
        return page

    result = asyncio.run(crawl(server.url, parse, limits=FAST, timing=FakeTiming().timing))
    reason = "not listed: its name would lead out of the root"
    assert result.failed == [FolderFailure(name, reason) for name in sorted(hostile)]
    assert {r.path for r in server.requests} == {
        "/drop/",
        "/drop/a/",
        "/drop/a/b/",
        "/drop/a/b/c/",
        "/drop/empty/",
    }


# --- caps --------------------------------------------------------------------------------------


def test_a_page_over_the_byte_cap_fails_its_folder(server: AutoindexServer) -> None:
    server.oversize("a", 100_000)
    result = run(server, limits=CrawlLimits(rate=1e6, max_page_bytes=64 * 1024))
    assert result.failed == [FolderFailure("a", "listing larger than 64 KiB (max_page_bytes)")]


def test_a_gzip_bomb_is_stopped_at_the_cap(server: AutoindexServer) -> None:
    server.oversize("a", 50_000_000, compress=True)
    result = run(server, limits=CrawlLimits(rate=1e6, max_page_bytes=1 << 20))
    assert result.failed == [FolderFailure("a", "listing larger than 1 MiB (max_page_bytes)")]
    assert result.stats.bytes < 200_000


def test_a_gzip_page_is_read(server: AutoindexServer) -> None:
    page = gzip.compress(nginx_page("/drop/a/", [("g.txt", False, 1, MTIME)]))
    headers = {"Content-Type": "text/html", "Content-Encoding": "gzip"}
    server.faults["/drop/a/"] = Fault(200, None, headers, page)
    result = run(server)
    assert "a/g.txt" in paths(result) and result.failed == []
    assert server.requests[0].headers["accept-encoding"] == "gzip"


HUNDRED = nginx_page("/drop/a/", [(f"f{i:03}.txt", False, i, MTIME) for i in range(100)])


@pytest.mark.parametrize(
    ("encoding", "close_delimited", "reason"),
    [
        ("gzip", True, "listing truncated (the gzip stream stopped before its end)"),
        ("gzip", False, "peer closed connection without sending complete message body"),
        ("", True, "listing truncated (the connection closed before </html>)"),
        ("", False, "peer closed connection without sending complete message body"),
    ],
    ids=["gzip-close", "gzip-length", "identity-close", "identity-length"],
)
def test_a_cut_listing_fails_its_folder(
    server: AutoindexServer, encoding: str, close_delimited: bool, reason: str
) -> None:
    # Half of a listing of 100 files must not read as a folder of 40 or 50.
    body = gzip.compress(HUNDRED, mtime=0) if encoding else HUNDRED
    headers = {**HTML, "Content-Encoding": encoding} if encoding else HTML
    cut = Fault(200, None, headers, body, cut=len(body) // 2, close_delimited=close_delimited)
    server.faults["/drop/a/"] = cut
    result = run(server)
    [failure] = result.failed
    assert failure.path == "a" and failure.reason.startswith(reason)
    assert not any(p.startswith("a/f") for p in paths(result))
    assert server.count("/drop/a/") == 3  # a dropped connection: tried again, like any


def test_a_whole_close_delimited_listing_is_read(server: AutoindexServer) -> None:
    server.faults["/drop/a/"] = Fault(200, None, HTML, HUNDRED, close_delimited=True)
    result = run(server)
    assert result.failed == [] and "a/f099.txt" in paths(result)


def test_bounded_body_refuses_a_cut_body() -> None:
    short = BoundedBody("", 100, length=10)
    short.feed(b"12345")
    with pytest.raises(Truncated, match=r"listing truncated \(5 bytes of 10 bytes came\)"):
        short.finish()
    cut = BoundedBody("gzip", 1 << 20)
    data = gzip.compress(HUNDRED)
    cut.feed(data[: len(data) // 2])
    with pytest.raises(Truncated, match="the gzip stream stopped before its end"):
        cut.finish()


def test_bounded_body() -> None:
    body = BoundedBody("gzip", 10)
    body.feed(gzip.compress(b"0123456789"))
    assert body.finish() == b"0123456789"
    with pytest.raises(ValueError, match="unsupported Content-Encoding 'br'"):
        BoundedBody("br", 10)
    with pytest.raises(ValueError, match="corrupt gzip"):
        BoundedBody("gzip", 10).feed(b"\x1f\x8b\x08\x00garbage-garbage")


def test_folders_past_max_depth_are_failures_not_requests(server: AutoindexServer) -> None:
    result = run(server, limits=CrawlLimits(rate=1e6, max_depth=1))
    assert result.failed == [FolderFailure("a/b", "deeper than max_depth (1); raise max_depth")]
    assert server.count("/drop/a/b/") == 0
    assert "a/b" in paths(result)


def test_max_entries_cuts_the_crawl(server: AutoindexServer) -> None:
    result = run(server, limits=CrawlLimits(rate=1e6, max_entries=2, concurrency=1))
    assert len(result.entries) == 2
    assert FolderFailure("", "more than 2 entries; raise max_entries") in result.failed
    assert result.skipped >= 1


def test_no_folder_is_queued_past_max_entries() -> None:
    # A page of 1,000 subfolders under a cap of 100: none waits in the queue to be dropped.
    async def go() -> Walk:
        limits = CrawlLimits(max_entries=100)
        async with Clients(limits, ClientOptions(), CrawlStats()) as clients:
            walk = Walk(
                clients,
                CrawlStats(),
                "http://h.example/drop/",
                PARSE,
                limits=limits,
                rules=NO_RULES,
                timing=FakeTiming().timing,
            )
            root = Folder("", None, 0, "", walk.root)
            page = Page("nginx", [ListedItem(f"d{i:04}", True) for i in range(1000)])
            walk._add_page(root, page, walk.root, "")
            return walk

    walk = asyncio.run(go())
    assert len(walk.entries) == 100 and walk.capped
    assert walk.queue.qsize() == 0
    assert walk.skipped == 900
    assert walk.failed == [FolderFailure("", "more than 100 entries; raise max_entries")]


def test_a_result_is_shown_by_its_counts(server: AutoindexServer) -> None:
    # asyncio (3.11) may repr the result of asyncio.run's task: with a million entries, the
    # whole repr cost hundreds of MB after the crawl was done.
    result = run(server)
    assert repr(result) == "CrawlResult(entries=8, failed=0, skipped=0, folders=5)"


def test_include_and_exclude(server: AutoindexServer) -> None:
    rules = Rules(
        include=GlobSet.from_patterns(["*.txt"], setting="include"),
        exclude=GlobSet.from_patterns(["b/", "top.txt"], setting="exclude"),
        active=True,
    )
    result = run(server, rules=rules)
    assert paths(result) == ["a", "a/x.txt", "empty"]
    assert result.skipped == 2
    assert server.count("/drop/a/b/") == 0


# --- conditional requests ----------------------------------------------------------------------


def test_a_304_reuses_the_cached_page(server: AutoindexServer) -> None:
    server.etags = True
    cache: PageCache = {}
    first = run(server, cache=cache)
    assert set(cache) == {
        server.url + p for p in ["", "a/", "a/b/", "a/b/c/", "empty/"]
    }  # keyed by folder URL
    server.requests.clear()
    second = run(server, cache=cache)
    assert paths(second) == paths(first) and second.failed == []
    assert all(r.headers.get("if-none-match", "").startswith('"') for r in server.requests)
    assert len(cache) == 5


def test_last_modified_alone_is_not_trusted(server: AutoindexServer) -> None:
    # A listing's Last-Modified is the folder's mtime, which a growing file does not change.
    server.last_modified = http_date(MTIME)
    cache: PageCache = {}
    run(server, cache=cache)
    server.requests.clear()
    run(server, cache=cache)
    assert cache == {}
    assert server.requests and all("if-modified-since" not in r.headers for r in server.requests)


def test_no_validators_no_cache(server: AutoindexServer) -> None:
    cache: PageCache = {}
    run(server, cache=cache)
    assert cache == {}
    assert all("if-none-match" not in r.headers for r in server.requests)


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


def test_client_options_reach_the_server(server: AutoindexServer) -> None:
    options = ClientOptions(headers={"User-Agent": "probe/1 (+ops@example.org)", "X-Team": "t"})
    run(server, options=options)
    assert {r.headers["user-agent"] for r in server.requests} == {"probe/1 (+ops@example.org)"}
    assert {r.headers["x-team"] for r in server.requests} == {"t"}
