"""The http source: real servers on 127.0.0.1, polled into a real database.

Every fault semantic of DESIGN.md "Snapshot safety" goes through ``poll_target`` and
``record_poll``; the crawler's clock is faked through the source registry, so no test waits on
backoff. The last tests crawl the real nginx.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from monitor.config import HttpTarget, Settings, settings_from_dict
from monitor.crawl import CachedPage
from monitor.errors import ConfigError
from monitor.poll import PollResult, poll_target
from monitor.sources import SOURCES, make_source
from monitor.sources.http import HttpSource
from monitor.sources.listings import ACCEPT
from monitor.store import Store
from monitor.store import queries as q
from tests.helpers import Clock
from tests.servers import (
    MTIME,
    AutoindexServer,
    FakeTiming,
    Fault,
    free_port,
    make_cert,
    nginx,
    nginx_page,
)

TREE = {"a/x.txt": 3, "a/b/y.txt": 5, "top.txt": 7, "keep/k1.txt": 1, "keep/k2.txt": 2}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeTiming:
    """The http source, built by the registry as usual, on a fake clock with its own cache."""
    timing = FakeTiming()
    cache: dict[str, CachedPage] = {}
    monkeypatch.setitem(SOURCES, "http", lambda t: HttpSource(t, timing=timing.timing, cache=cache))
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    return timing


@pytest.fixture
def server() -> Iterator[AutoindexServer]:
    with AutoindexServer(TREE) as running:
        yield running


def http_target(url: str, **kw: Any) -> HttpTarget:
    return HttpTarget.model_validate(
        {"name": "web", "kind": "http", "url": url, "rate": 1000, "suspect_min_removed": 2, **kw}
    )


def poll(store: Store, target: HttpTarget, clock: Clock) -> PollResult:
    with store.write() as conn:
        q.register_targets(conn, [(target.name, target.kind)], clock())
    result = asyncio.run(poll_target(store, target, clock=clock))
    clock.advance(minutes=30)
    return result


def snapshot(store: Store, result: PollResult) -> Any:
    with store.read() as conn:
        return q.get_snapshot(conn, result.snapshot_id)


def open_paths(store: Store) -> set[str]:
    with store.read() as conn:
        return set(q.current_versions(conn, q.target_id(conn, "web")))


# --- snapshot safety ---------------------------------------------------------------------------


def test_a_poll_records_the_tree_and_the_crawl(
    store: Store, server: AutoindexServer, clock: Clock, fake: FakeTiming
) -> None:
    result = poll(store, http_target(server.url), clock)
    assert (result.status, result.files, result.dirs) == ("complete", 5, 3)
    assert open_paths(store) == {"a", "a/b", "keep", *TREE}
    info = json.loads(snapshot(store, result).info)
    assert info["ip"] == "127.0.0.1"
    assert info["server"].startswith("fault-autoindex/1.0")
    assert (info["requests"], "tls_sha256" in info) == (4, False)
    assert info["bytes"] > 0 and info["format"]


def test_a_failed_folder_makes_a_partial_snapshot_that_removes_nothing_under_it(
    store: Store, server: AutoindexServer, clock: Clock, fake: FakeTiming
) -> None:
    target = http_target(server.url)
    assert poll(store, target, clock).status == "complete"
    server.fail("a", 500)
    del server.files["a/b/y.txt"]  # gone, but its folder cannot be read: not reported removed
    result = poll(store, target, clock)
    assert result.status == "partial"
    assert [(f.path, f.reason) for f in result.failed_folders] == [
        ("a", "HTTP 500 Internal Server Error")
    ]
    assert (result.added, result.removed, result.modified) == (0, 0, 0)
    assert {"a", "a/x.txt", "a/b", "a/b/y.txt"} <= open_paths(store)
    recorded = json.loads(snapshot(store, result).failed_folders)
    assert recorded == [{"path": "a", "reason": "HTTP 500 Internal Server Error"}]
    assert server.count("/drop/a/") == 1 + 4  # the first poll, then a try and three retries


def test_retries_then_success_is_complete(
    store: Store, server: AutoindexServer, clock: Clock, fake: FakeTiming
) -> None:
    server.fail("a/b", 502, times=2)
    server.fail("keep", 429, times=1, headers={"Retry-After": "5"})
    result = poll(store, http_target(server.url), clock)
    assert (result.status, result.failed_folders, result.files) == ("complete", [], 5)
    assert 5 in fake.sleeps


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (401, "HTTP 401 Unauthorized"),
        (403, "HTTP 403 Forbidden"),
        (404, "HTTP 404 Not Found"),
        (503, "HTTP 503 Service Unavailable"),
    ],
)
def test_a_root_that_refuses_gives_a_failed_snapshot(
    store: Store, server: AutoindexServer, clock: Clock, fake: FakeTiming, status: int, reason: str
) -> None:
    target = http_target(server.url)
    poll(store, target, clock)
    server.fail("", status)
    result = poll(store, target, clock)
    assert (result.status, result.error) == ("failed", f"cannot list {server.url}: {reason}")
    assert snapshot(store, result).status == "failed"
    assert open_paths(store) == {"a", "a/b", "keep", *TREE}  # nothing applied


def test_a_root_that_is_down_gives_a_failed_snapshot(
    store: Store, clock: Clock, fake: FakeTiming
) -> None:
    url = f"http://127.0.0.1:{free_port()}/drop/"
    result = poll(store, http_target(url, retries=1), clock)
    assert (result.status, result.error) == ("failed", f"cannot list {url}: connection refused")


def test_a_root_that_hangs_times_out(
    store: Store, server: AutoindexServer, clock: Clock, fake: FakeTiming
) -> None:
    server.hang("")
    result = poll(store, http_target(server.url, retries=0, timeout="200ms"), clock)
    assert (result.status, result.error) == (
        "failed",
        f"cannot list {server.url}: timed out after 0.2 s",
    )


def test_a_login_page_is_a_failed_folder_never_an_empty_one(
    store: Store, server: AutoindexServer, clock: Clock, fake: FakeTiming
) -> None:
    target = http_target(server.url)
    poll(store, target, clock)
    server.login("keep")
    result = poll(store, target, clock)
    assert result.status == "partial" and result.removed == 0
    assert [(f.path, f.reason) for f in result.failed_folders] == [
        ("keep", "not a directory listing: login form")
    ]
    server.login("")
    result = poll(store, target, clock)
    assert result.status == "failed"
    assert result.error == f"cannot list {server.url}: not a directory listing: login form"


def test_a_listing_that_suddenly_empties_is_suspect(
    store: Store, server: AutoindexServer, clock: Clock, fake: FakeTiming
) -> None:
    target = http_target(server.url)
    poll(store, target, clock)
    server.files = {}
    result = poll(store, target, clock)
    assert result.status == "suspect"
    assert "a/x.txt" in open_paths(store)


def test_links_out_of_scope_are_never_fetched(
    store: Store, server: AutoindexServer, clock: Clock, fake: FakeTiming
) -> None:
    with AutoindexServer(TREE) as other:
        server.links["/drop/"] = ["../", "../etc/", "/etc/", f"{other.url}a/", "a/?C=N;O=D"]
        server.redirect("keep", f"{other.url}keep/")
        result = poll(store, http_target(server.url), clock)
    assert other.requests == []
    assert all(r.path.startswith("/drop/") and "?" not in r.path for r in server.requests)
    assert result.status == "partial"
    assert [f.path for f in result.failed_folders] == ["keep"]
    assert result.failed_folders[0].reason == f"redirected out of scope to {other.url}keep/"


def test_entries_past_max_entries_make_a_partial_snapshot(
    store: Store, server: AutoindexServer, clock: Clock, fake: FakeTiming
) -> None:
    result = poll(store, http_target(server.url, max_entries=3, concurrency=1), clock)
    assert result.status == "partial"
    assert ("", "more than 3 entries; raise max_entries") in [
        (f.path, f.reason) for f in result.failed_folders
    ]


# --- what requests carry -----------------------------------------------------------------------


def test_user_agent_contact_and_headers_are_sent(
    store: Store, server: AutoindexServer, clock: Clock, fake: FakeTiming
) -> None:
    target = http_target(
        server.url, user_agent="watch/2", contact="ops@example.org", headers={"X-Team": "blue"}
    )
    poll(store, target, clock)
    agents = {r.headers["user-agent"] for r in server.requests}
    assert agents == {"watch/2 (+ops@example.org)"}
    assert {r.headers["x-team"] for r in server.requests} == {"blue"}
    assert {r.headers["accept"] for r in server.requests} == {ACCEPT}  # Caddy then sends JSON
    default = http_target(server.url).user_agent_header
    assert re.fullmatch(r"filedrop-monitor/\d+\.\d+\.\d+\S*", default)


def test_basic_auth(store: Store, server: AutoindexServer, clock: Clock, fake: FakeTiming) -> None:
    server.basic = "Basic YW5hOnMzY3JldA=="  # ana:s3cret
    good = http_target(server.url, auth={"kind": "basic", "username": "ana", "password": "s3cret"})
    assert poll(store, good, clock).status == "complete"
    bad = http_target(server.url, auth={"kind": "basic", "username": "ana", "password": "nope"})
    result = poll(store, bad, clock)
    assert (result.status, result.error) == (
        "failed",
        f"cannot list {server.url}: HTTP 401 Unauthorized",
    )
    assert "s3cret" not in repr(good) and "s3cret" not in str(good.model_dump())


def test_digest_auth(store: Store, server: AutoindexServer, clock: Clock, fake: FakeTiming) -> None:
    server.digest = ("ana", "s3cret")
    target = http_target(
        server.url, auth={"kind": "digest", "username": "ana", "password": "s3cret"}
    )
    result = poll(store, target, clock)
    assert (result.status, result.files) == ("complete", 5)
    info = json.loads(snapshot(store, result).info)
    assert info["requests"] == len(server.requests)  # each challenge's request counts too
    wrong = http_target(server.url, auth={"kind": "digest", "username": "ana", "password": "x"})
    assert poll(store, wrong, clock).status == "failed"


def test_bearer_token(
    store: Store, server: AutoindexServer, clock: Clock, fake: FakeTiming
) -> None:
    server.bearer = "tok-123"
    target = http_target(server.url, auth={"kind": "bearer", "token": "tok-123"})
    assert poll(store, target, clock).status == "complete"
    assert poll(store, http_target(server.url), clock).status == "failed"


def test_validators_are_remembered_for_the_process(server: AutoindexServer) -> None:
    server.etags = True
    target = http_target(server.url, name=f"web{server.port}")
    first = asyncio.run(HttpSource(target).list())
    server.requests.clear()
    second = asyncio.run(HttpSource(target).list())  # a new source, as each poll makes
    assert second.entries == first.entries and second.failed_folders == []
    assert all("if-none-match" in r.headers for r in server.requests)


def test_proxies_come_from_the_environment(
    store: Store, server: AutoindexServer, clock: Clock, fake: FakeTiming, monkeypatch: Any
) -> None:
    monkeypatch.setenv("HTTP_PROXY", server.origin)
    monkeypatch.setenv("NO_PROXY", "")
    result = poll(store, http_target("http://files.invalid/drop/"), clock)
    assert result.status == "complete" and result.files == 5
    assert server.proxied == 4


# --- TLS ---------------------------------------------------------------------------------------


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[AutoindexServer, Path]]:
    cert, key = make_cert(tmp_path, "server")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with AutoindexServer(TREE, tls=context) as running:
        yield running, cert


def test_https_with_a_ca_bundle_records_the_certificate_fingerprint(
    store: Store, tls_server: tuple[AutoindexServer, Path], clock: Clock, fake: FakeTiming
) -> None:
    server, cert = tls_server
    result = poll(store, http_target(server.url, ca_bundle=cert), clock)
    assert result.status == "complete"
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    info = json.loads(snapshot(store, result).info)
    assert info["tls_sha256"] == hashlib.sha256(der).hexdigest()
    described = asyncio.run(HttpSource(http_target(server.url, ca_bundle=cert)).probe())
    assert f"tls sha256 {info['tls_sha256']}" in described


def test_an_untrusted_certificate_fails_at_once(
    store: Store, tls_server: tuple[AutoindexServer, Path], clock: Clock, fake: FakeTiming
) -> None:
    server, _ = tls_server
    result = poll(store, http_target(server.url), clock)
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.startswith(f"cannot list {server.url}: TLS certificate not trusted: ")
    assert fake.sleeps == [] or max(fake.sleeps) < 0.01  # not retried
    insecure = http_target(server.url, verify_tls=False)
    assert poll(store, insecure, clock).status == "complete"


def test_a_client_certificate_is_presented(
    store: Store, tmp_path: Path, clock: Clock, fake: FakeTiming
) -> None:
    cert, key = make_cert(tmp_path, "server")
    client_cert, client_key = make_cert(tmp_path, "client")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(client_cert)
    with AutoindexServer(TREE, tls=context) as server:
        target = http_target(
            server.url, ca_bundle=cert, client_cert=client_cert, client_key=client_key
        )
        assert poll(store, target, clock).status == "complete"
        assert poll(store, http_target(server.url, ca_bundle=cert, retries=0), clock).status == (
            "failed"
        )


def test_an_unreadable_certificate_file_fails_the_poll(
    store: Store, tmp_path: Path, clock: Clock, fake: FakeTiming
) -> None:
    missing = tmp_path / "nope.pem"
    result = poll(store, http_target("https://127.0.0.1:1/drop/", ca_bundle=missing), clock)
    assert result.status == "failed"
    assert result.error == (
        f"cannot list https://127.0.0.1:1/drop/: cannot use ca_bundle {missing}: "
        "No such file or directory"
    )


# --- the source's other methods ----------------------------------------------------------------


def test_url_for_quotes_each_segment_from_its_bytes() -> None:
    source = make_source(http_target("https://h.example/drop files/"))
    assert source.url_for("") == "https://h.example/drop%20files/"
    assert (
        source.url_for("a b/c#?&%.txt") == "https://h.example/drop%20files/a%20b/c%23%3F%26%25.txt"
    )
    assert source.url_for("é/\udcff.bin") == "https://h.example/drop%20files/%C3%A9/%FF.bin"


def test_probe_describes_the_root(server: AutoindexServer, fake: FakeTiming) -> None:
    detail = asyncio.run(make_source(http_target(server.url)).probe())
    assert detail.startswith(f"http listing {server.url}: 3 entries at the top level (2 folders; ")
    assert "127.0.0.1" in detail
    assert [r.path for r in server.requests] == ["/drop/"]


# --- configuration -----------------------------------------------------------------------------


def settings(raw: dict[str, Any], folder: Path = Path("/etc/monitor")) -> Settings:
    return settings_from_dict(raw, path=folder / "monitor.toml", environ={"PW": "hunter2-x"})


def config_error(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        settings(raw)
    return str(caught.value).split("\n", 1)[1]


def test_http_target_defaults_and_normalised_url() -> None:
    target = settings({"target": [{"name": "w", "kind": "http", "url": "HTTPS://H.Example"}]})
    web = target.target("w")
    assert isinstance(web, HttpTarget)
    assert web.url == "https://h.example/"
    assert (web.concurrency, web.rate, web.retries, web.max_depth) == (8, 10.0, 3, 32)
    assert (web.timeout.total_seconds(), web.poll_timeout.total_seconds()) == (30, 1800)
    assert web.max_page_bytes == 16 * 2**20 and web.verify_tls and web.listing_timezone == "UTC"
    odd = HttpTarget(name="w", kind="http", url="http://h:8080/a b/é")
    assert odd.url == "http://h:8080/a%20b/%C3%A9/"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://h/", "must be an http:// or https:// URL"),
        ("https://h/x?y=1", "must not have a query string or a fragment"),
        ("https://h/x#top", "must not have a query string or a fragment"),
        ("https:///x", "must name a host"),
        ("https://h/a/../b/", "must not hold '.' or '..' path segments"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    error = config_error({"target": [{"name": "w", "kind": "http", "url": url}]})
    assert error.startswith(f"  target[0] (w).url: {message}")


def test_credentials_in_the_url_are_refused_and_never_echoed() -> None:
    error = config_error({"target": [{"name": "w", "kind": "http", "url": "https://u:${PW}@h/"}]})
    assert "hunter2" not in error
    assert "use" in error or "auth" in error
    assert error == (
        '  target[0] (w).url: must not hold credentials; set them with auth = { kind = "basic", '
        'username = "...", password = "${VAR}" } (got \'https://***@h/\')'
    )


def test_auth_secrets_are_never_echoed() -> None:
    raw = {"kind": "basic", "username": "u", "password": 12345678, "extra": "${PW}"}
    error = config_error(
        {"target": [{"name": "w", "kind": "http", "url": "https://h/", "auth": raw}]}
    )
    assert "hunter2" not in error and "12345678" not in error
    assert "target[0] (w).auth.password: Input should be a valid string" in error
    assert "target[0] (w).auth.extra: unknown key" in error
    unknown = config_error(
        {"target": [{"name": "w", "kind": "http", "url": "https://h/", "auth": {"kind": "ntlm"}}]}
    )
    assert "auth" in unknown and "ntlm" not in unknown.split("auth", 1)[0]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("auth", {"kind": "bearer", "token": "t\u00f6k\u00e9n-SECRETVALUE"}),
        ("auth", {"kind": "basic", "username": "ana", "password": "p\u00e4ss-SECRETVALUE"}),
        ("auth", {"kind": "digest", "username": "ana", "password": "SECRETVALUE\n"}),
        ("auth", {"kind": "digest", "username": "\u00e4na", "password": "SECRETVALUE"}),
        ("headers", {"X-Api-Key": "v\u2603l-SECRETVALUE"}),
        ("headers", {"X-Api-Key": "SECRETVALUE\r\nX-Injected: 1"}),
        ("user_agent", "bot\u00e9"),
        ("contact", "ops@\u00e9xample.org"),
    ],
)
def test_what_goes_in_a_header_must_be_printable_ascii(key: str, value: Any) -> None:
    # Before, a value outside ASCII failed every poll with a UnicodeEncodeError quoting it.
    error = config_error(
        {"target": [{"name": "w", "kind": "http", "url": "https://h/", key: value}]}
    )
    assert "must be printable ASCII" in error
    assert "SECRETVALUE" not in error
    with pytest.raises(ValidationError) as caught:  # built in code, not from a file
        HttpTarget.model_validate({"name": "w", "kind": "http", "url": "https://h/", key: value})
    assert "SECRETVALUE" not in str(caught.value)


def test_a_basic_username_cannot_hold_a_colon() -> None:
    auth = {"kind": "basic", "username": "a:b", "password": "x"}
    error = config_error(
        {"target": [{"name": "w", "kind": "http", "url": "https://h/", "auth": auth}]}
    )
    assert "target[0] (w).auth.username: must not hold ':'" in error


def test_header_values_are_hidden_from_repr(
    store: Store, server: AutoindexServer, clock: Clock, fake: FakeTiming
) -> None:
    headers = {"Authorization": "Token SECRET-1", "X-Api-Key": "SECRET-2"}
    target = http_target(server.url, headers=headers)
    for shown in (repr(target), str(target), repr(target.headers), str(target.model_dump())):
        assert "SECRET" not in shown and "'Authorization': '***'" in shown
    assert target.headers == headers  # the values themselves, as sent
    assert poll(store, target, clock).status == "complete"
    assert {r.headers["x-api-key"] for r in server.requests} == {"SECRET-2"}


def test_an_international_host_is_kept_as_sent(
    store: Store, server: AutoindexServer, clock: Clock, fake: FakeTiming, monkeypatch: Any
) -> None:
    # The server names itself in punycode in its redirects: they must compare equal.
    target = http_target("http://b\u00fccher.invalid/drop/")
    assert target.url == "http://xn--bcher-kva.invalid/drop/"
    monkeypatch.setenv("HTTP_PROXY", server.origin)
    monkeypatch.setenv("NO_PROXY", "")
    server.redirect("keep", "http://xn--bcher-kva.invalid/drop/moved/")
    items = [("k1.txt", False, 1, MTIME), ("k2.txt", False, 2, MTIME)]
    page = nginx_page("/drop/moved/", items)
    server.faults["/drop/moved/"] = Fault(200, None, {"Content-Type": "text/html"}, page)
    result = poll(store, target, clock)
    assert (result.status, result.failed_folders) == ("complete", [])
    assert {"keep/k1.txt", "keep/k2.txt"} <= open_paths(store)


def test_defaults_reach_only_the_targets_whose_kind_has_the_key(tmp_path: Path) -> None:
    raw = {
        "defaults": {"every": "1h", "concurrency": 2, "ca_bundle": "ca.pem", "path": "shared"},
        "target": [
            {"name": "w", "kind": "http", "url": "https://h/"},
            {"name": "l", "kind": "local"},
            {"name": "w2", "kind": "http", "url": "https://h/2/", "concurrency": 5},
        ],
    }
    loaded = settings(raw, tmp_path)
    web, local, web2 = (loaded.target(n) for n in ("w", "l", "w2"))
    assert isinstance(web, HttpTarget) and isinstance(web2, HttpTarget)
    assert (web.concurrency, web2.concurrency) == (2, 5)
    assert web.ca_bundle == tmp_path.resolve() / "ca.pem"
    assert local.every == web.every and local.kind == "local"
    assert local.path == tmp_path.resolve() / "shared"  # type: ignore[union-attr]


def test_defaults_errors_name_the_key_once() -> None:
    raw = {
        "defaults": {"concurrency": 100, "kind": "http", "contcat": "x", "verify_tls": "maybe"},
        "target": [{"name": "w", "kind": "http", "url": "https://h/"}] * 1,
    }
    assert config_error(raw).splitlines() == [
        "  defaults.contcat: unknown key (check the spelling; see config.example.toml)",
        "  defaults.concurrency: Input should be less than or equal to 64 (got 100)",
        "  defaults.kind: cannot be set in [defaults]; set it in each [[target]] (got 'http')",
        "  defaults.verify_tls: Input should be a valid boolean, unable to interpret input "
        "(got 'maybe')",
    ]


def test_an_http_key_on_a_local_target_is_unknown() -> None:
    raw = {"target": [{"name": "l", "kind": "local", "path": "/x", "concurrency": 2}]}
    assert config_error(raw) == (
        "  target[0] (l).concurrency: unknown key (check the spelling; see config.example.toml)"
    )


def test_a_mistyped_kind_is_checked_as_the_kind_its_keys_look_like() -> None:
    raw = {"target": [{"name": "w", "kind": "htp", "url": "https://h/", "rate": 0}]}
    assert config_error(raw).splitlines() == [
        "  target[0] (w).kind: Input should be 'http' (got 'htp')",
        "  target[0] (w).rate: Input should be greater than 0",
    ]


# --- real nginx --------------------------------------------------------------------------------

HOSTILE = {
    "plain.txt": b"hello",
    "with space & ampersand.txt": b"a" * 10,
    "<script>alert(1)</script>.html": b"<b>",
    "quote\"apos'.txt": b"q",
    "percent%20literal.txt": b"%",
    "hash#and?query.txt": b"h",
    "semi;colon=equals+plus.txt": b"s" * 3,
    "unicode-é-日本語-🙂.txt": "é".encode() * 7,
    "a-very-long-name-" + "x" * 90 + ".bin": b"l" * 1234,
    "-leading-dash": b"-",
    "trailing-dot.": b".",
    "..double-dot-prefix": b"..",
    "nested dir/inner file.txt": b"inner",
    "nested dir/deeper/%2e%2e/x.txt": b"not a parent",
    "emptydir/": b"",
}


def test_nginx_hostile_names_exact_inventory(
    store: Store, tmp_path: Path, clock: Clock, fake: FakeTiming
) -> None:
    root = tmp_path / "www" / "drop"
    expected: dict[str, tuple[str, int | None]] = {}
    mtime = 1_795_165_260  # 2026-11-20 09:01 UTC, on a whole minute
    for rel, data in HOSTILE.items():
        path = root / rel
        parts = rel.rstrip("/").split("/")
        for depth in range(1, len(parts)):
            expected["/".join(parts[:depth])] = ("dir", None)
        if rel.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            expected[rel.rstrip("/")] = ("dir", None)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (mtime + 30, mtime + 30))
        if not rel.startswith("."):  # nginx's autoindex never shows dot-files
            expected[rel] = ("file", len(data))
    raw_name = os.fsencode("latin1-\udce9.txt")  # a name that is not UTF-8
    (root / os.fsdecode(raw_name)).write_bytes(b"x" * 2)
    os.utime(root / os.fsdecode(raw_name), (mtime, mtime))
    expected[os.fsdecode(raw_name)] = ("file", 2)
    with nginx(tmp_path / "www", tmp_path / "nginx") as base:
        result = poll(store, http_target(f"{base}/drop/"), clock)
        assert (result.status, result.failed_folders) == ("complete", [])
    with store.read() as conn:
        versions = q.current_versions(conn, q.target_id(conn, "web"))
    assert {p: v.type for p, v in versions.items()} == {p: t for p, (t, _) in expected.items()}
    info = json.loads(snapshot(store, result).info)
    assert info["server"].startswith("nginx")
    if "nginx" not in info["format"].split(","):
        pytest.skip(f"no nginx listing parser yet (format {info['format']}): sizes not checked")
    assert {p: v.size for p, v in versions.items()} == {p: s for p, (_, s) in expected.items()}
    minute = datetime.fromtimestamp(mtime, UTC)
    for path, version in versions.items():
        if version.type == "file":
            assert version.mtime_ns == int(minute.timestamp()) * 10**9, path
