"""Caps: page size, gzip, cut listings, depth, entries, include and exclude; against a real
(fault-injecting) HTTP server on 127.0.0.1, time faked."""

from __future__ import annotations

import asyncio
import gzip

import pytest

from monitor.crawl import (
    NO_RULES,
    BoundedBody,
    ClientOptions,
    Clients,
    CrawlLimits,
    CrawlStats,
)
from monitor.crawl.body import Truncated
from monitor.crawl.walk import Folder, Walk
from monitor.sources.base import FolderFailure
from monitor.sources.listings import ListedItem, Page
from monitor.sources.local import GlobSet, Rules
from tests.crawl.helpers import (
    HTML,
    PARSE,
    paths,
    run,
)
from tests.servers import (
    MTIME,
    AutoindexServer,
    FakeTiming,
    Fault,
    nginx_page,
)

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
