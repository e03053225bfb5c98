"""Archiving an http target: nginx for the real thing, a fault-injecting server for the rest."""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.archive.blobs import open_blob_store
from monitor.archive.fetch import Direct
from monitor.config import Settings
from monitor.store import Store
from monitor.store.queries import TABLES
from tests.archive.helpers import archive, archive_settings, captures, poll_and_archive
from tests.archive.servers import FileServer, python_http
from tests.helpers import Clock, put
from tests.servers import Fault, make_cert, nginx

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _http(url: str, **kw: Any) -> dict[str, Any]:
    return {"name": "web", "kind": "http", "url": url, "rate": 1000, "retries": 2, **kw}


def _store_files(settings: Settings) -> list[Path]:
    """Every file under the blob store's folder (blobs and temporary files)."""
    root = settings.data_dir / "blobs"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_nginx_files_stay_available_after_the_server_deletes_them(
    store: Store, tmp_path: Path, clock: Clock
) -> None:
    drop = tmp_path / "drop"
    put(drop, "batch 1/results.txt", PDF)  # a PDF, whatever its name says
    put(drop, "batch 1/notes.md", b"# notes\n")
    put(drop, "readme.txt", b"hello\n")
    with nginx(drop, tmp_path / "nginx") as base:
        settings = archive_settings(tmp_path, _http(f"{base}/"))
        result, report = poll_and_archive(store, settings, clock)
        assert result.status == "complete"
        assert (report.archived, report.failed, report.bytes) == (3, 0, len(PDF) + 14)
        for path in list(drop.rglob("*")):
            if path.is_file():
                path.unlink()
        result, report = poll_and_archive(store, settings, clock)
    assert result.removed == 3 and report.archived == 0
    rows = {c.path: c for c in captures(store)}
    pdf = rows["batch 1/results.txt"]
    assert pdf.status == "complete" and pdf.sha256 == _sha(PDF) and pdf.size == len(PDF)
    assert pdf.url == f"{base}/batch%201/results.txt"
    assert pdf.http_status == 200 and pdf.ip == "127.0.0.1" and pdf.tls_fingerprint is None
    headers = json.loads(pdf.headers or "{}")
    assert headers["content-length"] == str(len(PDF)) and headers["server"].startswith("nginx")
    blobs = open_blob_store(settings)
    assert b"".join(blobs.read(_sha(PDF))) == PDF
    with store.read() as conn:
        blob = conn.execute(TABLES["blob"].select().where(TABLES["blob"].c.sha256 == _sha(PDF)))
        assert blob.one()._mapping["mime"] == "application/pdf"
        shas = dict(conn.execute(TABLES["version"].select().with_only_columns(
            TABLES["version"].c.path, TABLES["version"].c.sha256)).all())  # fmt: skip
    assert shas["batch 1/results.txt"] == _sha(PDF) and shas["batch 1"] is None


@pytest.fixture
def server() -> Iterator[FileServer]:
    with FileServer({"a/one.bin": b"1" * 1000, "a/two.bin": b"2" * 2000, "top.txt": b"top"}) as s:
        yield s


def test_5xx_is_retried_within_the_try(
    store: Store, tmp_path: Path, clock: Clock, server: FileServer
) -> None:
    server.faults[server.file_url_path("a/one.bin")] = Fault(503, times=2)
    settings = archive_settings(tmp_path, _http(server.url))
    _, report = poll_and_archive(store, settings, clock)
    assert (report.archived, report.failed) == (3, 0)
    assert server.count(server.file_url_path("a/one.bin")) == 3


def test_a_cut_body_is_never_stored_and_is_tried_again_later(
    store: Store, tmp_path: Path, clock: Clock, server: FileServer
) -> None:
    path = server.file_url_path("a/two.bin")
    server.faults[path] = Fault(200, body=b"2" * 2000, cut=700)
    settings = archive_settings(tmp_path, _http(server.url))
    _, report = poll_and_archive(store, settings, clock)
    assert (report.archived, report.failed) == (2, 1)
    assert server.count(path) == 3  # retries = 2
    failed = next(c for c in captures(store) if c.path == "a/two.bin")
    assert failed.status == "failed" and failed.sha256 is None
    assert "after 3 tries" in (failed.error or "") and failed.next_attempt_at is not None
    assert _sha(b"2" * 2000) not in set(open_blob_store(settings).hashes())
    assert len(_store_files(settings)) == 2  # two blobs, no temporary file left
    del server.faults[path]
    _, report = poll_and_archive(store, settings, clock)  # 30 minutes later: due again
    assert (report.archived, report.failed) == (1, 0)
    assert [c.status for c in captures(store) if c.path == "a/two.bin"] == ["failed", "complete"]
    assert [c.attempts for c in captures(store) if c.path == "a/two.bin"] == [1, 2]


@pytest.mark.parametrize(
    ("fault", "why"),
    [
        (Fault(200, body=b"1" * 1500), "announced, the listing showed"),  # Content-Length
        (Fault(200, body=b"1" * 1500, close_delimited=True, cut=1500), "longer than"),
        (Fault(200, body=b"1" * 400, close_delimited=True, cut=400), "400 bytes received"),
    ],
    ids=["content-length", "longer", "shorter"],
)
def test_a_body_that_is_not_the_listed_size_is_changed(
    store: Store, tmp_path: Path, clock: Clock, server: FileServer, fault: Fault, why: str
) -> None:
    server.faults[server.file_url_path("a/one.bin")] = fault
    settings = archive_settings(tmp_path, _http(server.url))
    _, report = poll_and_archive(store, settings, clock)
    assert (report.archived, report.failed) == (2, 1)
    (changed,) = [c for c in captures(store) if c.path == "a/one.bin"]
    assert changed.status == "changed" and why in (changed.error or "")
    assert changed.sha256 is None and changed.expected_size == 1000
    assert len(_store_files(settings)) == 2


def test_a_file_that_changes_after_the_listing_is_archived_on_the_next_poll(
    store: Store, tmp_path: Path, clock: Clock, server: FileServer
) -> None:
    settings = archive_settings(tmp_path, _http(server.url))
    now = clock()
    from tests.helpers import poll

    poll(store, settings.targets[0], clock)  # type: ignore[arg-type]
    server.set("a/one.bin", b"grown" * 300)  # after the listing, before the download
    report = archive(store, settings, now)
    assert (report.archived, report.failed) == (2, 1)
    _, report = poll_and_archive(store, settings, clock)
    assert (report.archived, report.failed) == (1, 0)
    rows = [c for c in captures(store) if c.path == "a/one.bin"]
    assert [c.status for c in rows] == ["changed", "complete"]
    assert rows[0].version_id != rows[1].version_id  # the old version is not fetched again
    assert rows[1].sha256 == _sha(b"grown" * 300)


def test_a_last_modified_after_the_listing_is_changed(
    store: Store, tmp_path: Path, clock: Clock, server: FileServer
) -> None:
    server.last_modified_of["top.txt"] = "Fri, 20 Nov 2026 09:07:30 GMT"  # listed 09:00
    server.last_modified_of["a/one.bin"] = "Fri, 20 Nov 2026 10:00:20 GMT"  # a time zone off
    settings = archive_settings(tmp_path, _http(server.url))
    _, report = poll_and_archive(store, settings, clock)
    assert (report.archived, report.failed) == (2, 1)
    (changed,) = [c for c in captures(store) if c.status != "complete"]
    assert changed.path == "top.txt" and "Last-Modified" in (changed.error or "")


def test_a_404_and_a_redirect_fail_without_following(
    store: Store, tmp_path: Path, clock: Clock, server: FileServer
) -> None:
    server.faults[server.file_url_path("a/one.bin")] = Fault(404)
    server.faults[server.file_url_path("top.txt")] = Fault(
        302, headers={"Location": "http://elsewhere.example/x"}
    )
    settings = archive_settings(tmp_path, _http(server.url))
    _, report = poll_and_archive(store, settings, clock)
    assert (report.archived, report.failed) == (1, 2)
    errors = {c.path: c.error for c in captures(store) if c.status == "failed"}
    assert "404" in (errors["a/one.bin"] or "")
    assert "not followed" in (errors["top.txt"] or "")
    assert server.count(server.file_url_path("a/one.bin")) == 1  # a 404 is not retried at once


def test_rules_size_caps_and_budget(
    store: Store, tmp_path: Path, clock: Clock, server: FileServer
) -> None:
    server.set("a/big.iso", b"b" * 5000)
    server.set("skip/me.tmp", b"t")
    settings = archive_settings(
        tmp_path,
        _http(server.url),
        exclude=["*.tmp"],
        max_file_size=4000,
        max_bytes_per_poll=1500,
    )
    _, report = poll_and_archive(store, settings, clock)
    # Oldest first, by path: a/big.iso is skipped (too big), a/one.bin fits, the rest waits.
    assert (report.archived, report.skipped, report.waiting) == (1, 1, 2)
    assert report.note == "max_bytes_per_poll reached"
    _, report = poll_and_archive(store, settings, clock)
    assert (report.archived, report.skipped, report.waiting) == (1, 0, 1)
    _, report = poll_and_archive(store, settings, clock)
    assert (report.archived, report.waiting) == (1, 0)
    statuses = {c.path: c.status for c in captures(store)}
    assert statuses == {
        "a/big.iso": "skipped",
        "a/one.bin": "complete",
        "a/two.bin": "complete",
        "top.txt": "complete",
    }


def test_quota(store: Store, tmp_path: Path, clock: Clock, server: FileServer) -> None:
    settings = archive_settings(tmp_path, _http(server.url), quota=3002)
    _, report = poll_and_archive(store, settings, clock)
    assert (report.archived, report.waiting, report.note) == (2, 1, "quota reached")
    server.set("new.txt", b"n" * 50)
    _, report = poll_and_archive(store, settings, clock)
    assert (report.archived, report.waiting) == (0, 2)  # in order: top.txt waits, and after it


def test_files_listed_without_a_size_keep_to_the_budget_and_the_quota(
    store: Store, tmp_path: Path, clock: Clock
) -> None:
    """Python's http.server lists names only: the bytes are counted as the bodies come."""
    drop = tmp_path / "drop"
    for i in range(5):
        put(drop, f"f{i}.bin", bytes([65 + i]) * 1000)
    with python_http(drop) as base:
        settings = archive_settings(
            tmp_path, _http(f"{base}/"), max_bytes_per_poll=1500, quota=2500
        )
        result, report = poll_and_archive(store, settings, clock)
        assert result.files == 5
        assert (report.archived, report.waiting) == (1, 4)
        assert report.note == "max_bytes_per_poll reached"
        _, report = poll_and_archive(store, settings, clock)
        assert (report.archived, report.waiting) == (1, 3)
        _, report = poll_and_archive(store, settings, clock)
        assert (report.archived, report.waiting, report.note) == (0, 3, "quota reached")
    rows = captures(store)
    assert [(c.status, c.size, c.expected_size) for c in rows] == [("complete", 1000, None)] * 2
    assert len(_store_files(settings)) == 2  # nothing of the files that did not fit is kept


def _files() -> dict[str, bytes]:
    return {"a/one.bin": b"1" * 1000, "top.txt": b"top"}


@pytest.mark.parametrize("kind", ["basic", "bearer", "digest"])
def test_downloads_carry_the_targets_auth(
    store: Store, tmp_path: Path, clock: Clock, kind: str
) -> None:
    auth: dict[str, str] = {"kind": kind}
    with FileServer(_files()) as server:
        if kind == "basic":
            server.basic = "Basic " + base64.b64encode(b"ann:s3cret").decode()
            auth.update(username="ann", password="s3cret")
        elif kind == "bearer":
            server.bearer = "t0ken"
            auth["token"] = "t0ken"
        else:
            server.digest = ("ann", "s3cret")
            auth.update(username="ann", password="s3cret")
        settings = archive_settings(tmp_path, _http(server.url, auth=auth, user_agent="bench"))
        _, report = poll_and_archive(store, settings, clock)
        downloads = [r for r in server.requests if not r.path.endswith("/")]
    assert (report.archived, report.failed) == (2, 0)
    assert {r.headers["user-agent"] for r in downloads} == {"bench"}
    assert {r.headers["accept-encoding"] for r in downloads} == {"identity"}


def test_https_downloads_record_the_certificate(store: Store, tmp_path: Path, clock: Clock) -> None:
    cert, key = make_cert(tmp_path, "server")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with FileServer(_files(), tls=context) as server:
        settings = archive_settings(tmp_path, _http(server.url, ca_bundle=str(cert)))
        _, report = poll_and_archive(store, settings, clock)
    assert report.archived == 2
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    assert {c.tls_fingerprint for c in captures(store)} == {hashlib.sha256(der).hexdigest()}


def test_a_proxy_in_the_environment_is_used(
    store: Store, tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FileServer(_files()) as server:
        monkeypatch.setenv("HTTP_PROXY", server.origin)
        monkeypatch.setenv("NO_PROXY", "")
        monkeypatch.delenv("no_proxy", raising=False)
        settings = archive_settings(tmp_path, _http(server.url))
        _, report = poll_and_archive(store, settings, clock)
        assert report.archived == 2 and server.proxied >= 2


def test_a_configured_host_header_is_sent_once(store: Store, tmp_path: Path, clock: Clock) -> None:
    """A target's own ``Host`` (a virtual host) replaces the URL's, as httpx does: nginx
    refuses a request with two (400)."""
    drop = tmp_path / "drop"
    put(drop, "a.txt", b"alpha\n")
    with nginx(drop, tmp_path / "nginx") as base:
        settings = archive_settings(tmp_path, _http(f"{base}/", headers={"host": "127.0.0.1"}))
        _, report = poll_and_archive(store, settings, clock)
    assert (report.archived, report.failed) == (1, 0)
    direct = Direct("http://10.0.0.1:8080/drop/", {"HOST": "files.example", "X-A": "1"})
    head = direct.head("http://10.0.0.1:8080/drop/a%20b.txt").decode()
    assert head.startswith("GET /drop/a%20b.txt HTTP/1.1\r\n")
    assert head.lower().count("host:") == 1 and "HOST: files.example\r\n" in head
    plain = Direct("http://10.0.0.1:8080/drop/", {"X-A": "1"}).head("http://10.0.0.1:8080/drop/")
    assert plain.decode().startswith("GET /drop/ HTTP/1.1\r\nHost: 10.0.0.1:8080\r\nX-A: 1\r\n")
