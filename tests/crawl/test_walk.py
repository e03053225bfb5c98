"""The walk: every folder once, concurrency, progress, the root, one format per server, and
conditional requests; against a real (fault-injecting) HTTP server on 127.0.0.1, time faked."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from monitor.crawl import (
    ClientOptions,
    CrawlLimits,
    PageCache,
    crawl,
)
from monitor.errors import RootUnavailable
from monitor.sources.base import FolderFailure
from monitor.sources.listings import Page
from tests.crawl.helpers import (
    FAST,
    HTML,
    PARSE,
    backoffs,
    paths,
    run,
)
from tests.servers import (
    MTIME,
    AutoindexServer,
    FakeTiming,
    Fault,
    free_port,
    http_date,
    nginx_page,
)

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


def test_client_options_reach_the_server(server: AutoindexServer) -> None:
    options = ClientOptions(headers={"User-Agent": "probe/1 (+ops@example.org)", "X-Team": "t"})
    run(server, options=options)
    assert {r.headers["user-agent"] for r in server.requests} == {"probe/1 (+ops@example.org)"}
    assert {r.headers["x-team"] for r in server.requests} == {"t"}
