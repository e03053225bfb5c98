"""The scope lock: links and redirects out of scope, aliases, names that climb out; against a
real (fault-injecting) HTTP server on 127.0.0.1, time faked."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from monitor.crawl import (
    CrawlLimits,
    Scope,
    crawl,
)
from monitor.sources.base import FolderFailure
from monitor.sources.listings import ListedItem, Page
from tests.crawl.helpers import (
    FAST,
    HTML,
    PARSE,
    TREE,
    paths,
    run,
)
from tests.servers import (
    MTIME,
    AutoindexServer,
    FakeTiming,
    Fault,
    nginx,
    nginx_page,
)

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
