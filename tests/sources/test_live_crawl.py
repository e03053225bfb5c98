"""Live crawls: each real server of ``tests/live_servers.py`` serves the hostile tree, and the
http source crawls it end to end with ``poll_target`` into a real SQLite database.

For every listing format the recorded inventory must be the truth of the tree at that format's
precision, as the parser tests define it (``test_listings.FORMATS``): the exact names (hostile
ones included, minus the dotfiles a server hides), the right types, sizes exact where the page
shows bytes and within the server's rounding where it does not, and mtimes cut to the page's
precision and read in its zone. Folders carry no size or mtime (see ``monitor.sources.http``).
A second poll of the unchanged server must report nothing added, removed, modified or moved and
write no version: rounded sizes and times read the same way every time. A third, after one file
grew on disk, must report exactly that file modified (where the format shows sizes or times),
so the second poll's silence is not a stale cache's.

The same servers also serve the decoy tree (``tests/live_servers.py``): names that imitate
other servers' listing markup, and Apache HeaderName/ReadmeName files that imitate Apache's
own listing. Each format must still be recognised as itself and give back exactly that tree.

Each server program is started once per test process, on free ports, and stopped at the end of
the module whatever happens (and sent SIGTERM if the test process dies). A program that is not
installed skips its formats with the package to install; when ``CI`` is set it fails them
instead, so CI cannot go green without crawling every server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from monitor.config import HttpTarget
from monitor.poll import PollResult, poll_target
from monitor.store import Store
from monitor.store import queries as q
from monitor.store.queries import StoredVersion
from tests.helpers import Clock
from tests.live_servers import (
    SERVERS,
    Server,
    ServerError,
    Variant,
    apache_server,
    caddy_server,
    lighttpd_server,
    make_decoy_tree,
    make_tree,
    missing,
    nginx_server,
    pyhttp_server,
    rclone_server,
    scratch,
    serving,
    wsgidav_server,
)
from tests.sources.test_listings import FORMATS, TRUTH, Shows, expected_mtime

ServerFactory = Callable[[Path, Path], Server]
Truth = list[dict[str, Any]]
NS = 1_000_000_000
#: The file a test changes on the live server (every format shows it), then puts back.
GROWN = "deep/er/est/file.txt"

#: Every format a live server renders → (the server, how its Server header starts).
RENDERED_BY: dict[str, tuple[ServerFactory, str]] = {
    "nginx-html": (nginx_server, "nginx/"),
    "nginx-exact-size-off": (nginx_server, "nginx/"),
    "nginx-localtime": (nginx_server, "nginx/"),
    "nginx-json": (nginx_server, "nginx/"),
    "nginx-xml": (nginx_server, "nginx/"),
    "apache-plain": (apache_server, "Apache/"),
    "apache-fancy": (apache_server, "Apache/"),
    "apache-table": (apache_server, "Apache/"),
    "apache-debian": (apache_server, "Apache/"),
    "apache-suppressed": (apache_server, "Apache/"),
    "lighttpd": (lighttpd_server, "lighttpd/"),
    "caddy-html": (caddy_server, "Caddy"),
    "caddy-json": (caddy_server, "Caddy"),
    "pyhttp": (pyhttp_server, "SimpleHTTP/"),
    "rclone": (rclone_server, "rclone/"),
    "wsgidav": (wsgidav_server, "WsgiDAV/"),
}
#: Target headers that pick a format: the crawler asks for JSON first, so Caddy's HTML
#: browse page needs an explicit Accept (its JSON comes with the crawler's default).
TARGET_HEADERS: dict[str, dict[str, str]] = {"caddy-html": {"Accept": "text/html"}}
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in {"", "0", "false", "no"}


@dataclass
class LiveServers:
    """The hostile tree and the servers started over it so far (each once, on first use)."""

    root: Path
    work: Path
    truth: Truth
    stack: contextlib.ExitStack
    started: dict[str, Server] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def variant(self, fmt: str) -> Variant:
        """The running variant that renders ``fmt``; skip (locally) or fail (in CI) when its
        server program is not installed."""
        make, _ = RENDERED_BY[fmt]
        name = make.__name__
        if name not in self.started:
            self.start(make)
        return next(v for v in self.started[name].variants if v.format == fmt)

    def start(self, make: ServerFactory) -> None:
        name = make.__name__
        if name in self.failed:  # do not wait for a broken server once per format
            pytest.fail(self.failed[name], pytrace=False)
        reason = missing(make(self.root, self.work))
        if reason is not None:
            if in_ci():
                pytest.fail(f"{reason}; CI must crawl every live server", pytrace=False)
            pytest.skip(reason)
        try:
            self.started[name] = self.stack.enter_context(serving(make, self.root, self.work))
        except ServerError as exc:
            self.failed[name] = str(exc)
            raise


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServers]:
    with scratch("live-crawl-") as base, contextlib.ExitStack() as stack:
        root, work = base / "tree", base / "work"
        root.mkdir()
        work.mkdir()
        yield LiveServers(root, work, make_tree(root), stack)


@pytest.fixture(scope="module")
def decoys() -> Iterator[LiveServers]:
    """The servers again, over the decoy tree (started on first use, like :func:`live`)."""
    with scratch("live-decoys-") as base, contextlib.ExitStack() as stack:
        root, work = base / "tree", base / "work"
        root.mkdir()
        work.mkdir()
        yield LiveServers(root, work, make_decoy_tree(root), stack)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: these tests are about the servers, not the database backends."""
    return f"sqlite:///{tmp_path / 'monitor.db'}"


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def live_target(fmt: str, variant: Variant) -> HttpTarget:
    """The http target that crawls the server behind ``variant`` in format ``fmt``."""
    return HttpTarget.model_validate(
        {
            "name": fmt,  # one page cache per format: Caddy renders two formats on one URL
            "kind": "http",
            "url": variant.url,
            "rate": 1000,
            "listing_timezone": variant.zone,
            "headers": TARGET_HEADERS.get(fmt, {}),
        }
    )


def poll(store: Store, target: HttpTarget, clock: Clock) -> PollResult:
    with store.write() as conn:
        q.register_targets(conn, [(target.name, target.kind)], clock())
    result = asyncio.run(poll_target(store, target, clock=clock))
    clock.advance(minutes=30)
    return result


def recorded(store: Store, target: HttpTarget) -> dict[str, StoredVersion]:
    with store.read() as conn:
        return q.current_versions(conn, q.target_id(conn, target.name))


def visible(truth: Truth, shows: Shows) -> dict[str, dict[str, Any]]:
    """The entries a format lists: none under a name the server hides."""
    return {
        entry["path"]: entry
        for entry in truth
        if not any(shows.hides(part) for part in entry["path"].split("/"))
    }


def problems_of(version: StoredVersion, entry: dict[str, Any], shows: Shows, zone: ZoneInfo) -> str:
    """What is wrong with a recorded version, compared with the truth ('' when nothing)."""
    found: list[str] = []
    if version.type != entry["type"]:
        found.append(f"type {version.type}, not {entry['type']}")
    if entry["type"] == "dir":
        if (version.size, version.mtime_ns) != (None, None):
            found.append(f"a folder with size {version.size}, mtime {version.mtime_ns}")
        return "; ".join(found)
    size = entry["size"]
    if shows.sizes == "none":
        want_size = version.size is None
    elif shows.sizes == "exact":
        want_size = version.size == size
    else:
        assert callable(shows.sizes)
        want_size = version.size is not None and abs(version.size - size) <= shows.sizes(size)
    if not want_size:
        found.append(f"size {version.size}, truth {size} ({shows.sizes})")
    want_mtime = None if shows.precision is None else expected_mtime(entry["mtime_ns"], shows, zone)
    if version.mtime_ns != want_mtime:
        found.append(f"mtime {version.mtime_ns}, expected {want_mtime} (truth {entry['mtime_ns']})")
    return "; ".join(found)


def assert_inventory(
    versions: dict[str, StoredVersion], truth: Truth, shows: Shows, zone: ZoneInfo
) -> None:
    """The recorded versions are the visible part of ``truth``, at the format's precision."""
    expected = visible(truth, shows)
    assert sorted(versions) == sorted(expected)
    wrong = {
        p: why for p, e in expected.items() if (why := problems_of(versions[p], e, shows, zone))
    }
    assert wrong == {}


@contextlib.contextmanager
def grown(root: Path, truth: Truth) -> Iterator[Truth]:
    """:data:`GROWN` made 5000 bytes long and a day newer, put back afterwards; yields the
    truth meanwhile. Its folder's mtime does not move: none of the folder's names changed."""
    old = next(entry for entry in truth if entry["path"] == GROWN)
    new = {**old, "size": 5000, "mtime_ns": old["mtime_ns"] + 86_400 * NS}
    try:
        os.truncate(root / GROWN, new["size"])
        os.utime(root / GROWN, ns=(new["mtime_ns"], new["mtime_ns"]))
        yield [new if entry is old else entry for entry in truth]
    finally:
        os.truncate(root / GROWN, old["size"])
        os.utime(root / GROWN, ns=(old["mtime_ns"], old["mtime_ns"]))


@pytest.mark.parametrize("fmt", list(RENDERED_BY))
def test_a_live_crawl_records_the_tree_then_no_change_then_a_real_one(
    fmt: str, live: LiveServers, store: Store, clock: Clock, no_proxy: None
) -> None:
    variant = live.variant(fmt)
    shows, zone = FORMATS[fmt], ZoneInfo(variant.zone)
    target = live_target(fmt, variant)
    first = poll(store, target, clock)
    assert (first.status, first.error, first.failed_folders) == ("complete", None, [])
    versions = recorded(store, target)
    assert_inventory(versions, live.truth, shows, zone)
    files = sum(1 for version in versions.values() if version.type == "file")
    assert (first.files, first.dirs) == (files, len(versions) - files)
    with store.read() as conn:
        info = json.loads(q.get_snapshot(conn, first.snapshot_id).info or "{}")
    assert set(info["format"].split(",")) - {"json"} == {shows.format}  # "json": an empty "[]"
    assert info["server"].startswith(RENDERED_BY[fmt][1])

    second = poll(store, target, clock)
    counts = (second.added, second.removed, second.modified, second.moved)
    assert (second.status, second.failed_folders, counts) == ("complete", [], (0, 0, 0, 0))
    assert recorded(store, target) == versions  # the same rows: nothing was written again

    with grown(live.root, live.truth) as truth:  # the 0 above is not a stale cache's
        third = poll(store, target, clock)
        assert_inventory(recorded(store, target), truth, shows, zone)
    shown = shows.sizes != "none" or shows.precision is not None
    counts = (third.added, third.removed, third.modified, third.moved)
    assert (third.status, counts) == ("complete", (0, 0, 1 if shown else 0, 0))


@pytest.mark.parametrize("fmt", list(RENDERED_BY))
def test_names_and_header_files_that_imitate_a_listing_change_nothing(
    fmt: str, decoys: LiveServers, store: Store, clock: Clock, no_proxy: None
) -> None:
    """The review's cases on the real servers: on nginx, the folder "x - " holding "<dir>"
    read as IIS with every size one line off; on Apache, a HEADER.html with a table with a
    Name column (or a <pre>) was taken for the listing, and the folder's files were lost."""
    variant = decoys.variant(fmt)
    shows, zone = FORMATS[fmt], ZoneInfo(variant.zone)
    target = live_target(fmt, variant)
    result = poll(store, target, clock)
    assert (result.status, result.error, result.failed_folders) == ("complete", None, [])
    assert_inventory(recorded(store, target), decoys.truth, shows, zone)
    with store.read() as conn:
        info = json.loads(q.get_snapshot(conn, result.snapshot_id).info or "{}")
    assert info["format"] == shows.format


# --- the live servers themselves ---------------------------------------------------------------


def test_the_live_tree_is_the_tree_the_fixtures_were_captured_from(live: LiveServers) -> None:
    assert live.truth == TRUTH


def test_every_format_a_live_server_renders_is_crawled_and_has_expectations() -> None:
    with scratch("live-formats-") as base:
        rendered = {v.format: make for make in SERVERS for v in make(base, base).variants}
    assert {fmt: make for fmt, (make, _) in RENDERED_BY.items()} == rendered
    assert set(rendered) <= set(FORMATS)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_a_server_is_stopped_when_the_code_using_it_fails(live: LiveServers) -> None:
    with pytest.raises(RuntimeError), serving(pyhttp_server, live.root, live.work) as server:
        port = server.variants[0].port
        assert _listening(port)
        raise RuntimeError("a failing test")
    assert not _listening(port)
