"""Hostile names and hostile files never make the archive write outside its store, and a
full disk stops the archive with a clear error, leaving the snapshot as it was."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from monitor.archive.blobs import open_blob_store
from monitor.errors import BlobStoreError
from monitor.store import Store
from monitor.store.queries import TABLES
from tests.archive.conftest import S3Server
from tests.archive.helpers import archive, archive_settings, captures, poll_and_archive
from tests.archive.servers import FileServer
from tests.helpers import Clock, poll, put

_BLOB = re.compile(r"data/blobs/[0-9a-f]{2}/[0-9a-f]{64}")

HOSTILE_HTTP = {
    "..%2Fescape.txt": b"1",
    "%2e%2e%2fescape2.txt": b"2",
    "CON": b"3",
    "NUL.txt": b"4",
    "<script>alert(1)</script>.html": b"<script>alert(1)</script>",
    "x" * 255: b"6",
    "\u202etxt.exe": b"MZ\x90\x00",
    "C:\\Windows\\win.ini": b"8",
    "/etc/passwd": b"9",
    "a\\..\\..\\b": b"10",
    "nul\x00byte.txt": b"11",
    "line\nbreak.txt": b"12",
}


def _everything(root: Path) -> list[str]:
    """Every file and link under ``root`` (relative), whatever its kind."""
    found = []
    for folder, _dirs, files in os.walk(root):
        found += [os.path.relpath(os.path.join(folder, f), root) for f in files]
    return sorted(found)


def _only_store_and_database(tmp_path: Path, allowed: set[str]) -> None:
    for rel in _everything(tmp_path):
        assert rel in allowed or _BLOB.fullmatch(rel) or rel.startswith("monitor.db"), rel


def test_hostile_names_over_http_write_only_blobs(
    store: Store, tmp_path: Path, clock: Clock
) -> None:
    with FileServer(HOSTILE_HTTP) as server:
        # Links no listing of names would hold: they decode to paths out of the root.
        server.links[server.prefix] = ["..%2Fsecret.txt", "%2Fetc%2Fpasswd", "..%5Cwin.ini"]
        settings = archive_settings(
            tmp_path, {"name": "web", "kind": "http", "url": server.url, "rate": 1000}
        )
        result, report = poll_and_archive(store, settings, clock)
    # "..\\win.ini" is a name like any other on the server's side (it has no such file).
    assert result.ok and (report.archived, report.failed) == (10, 1)
    assert [c.path for c in captures(store) if c.status == "failed"] == ["..\\win.ini"]
    assert all(r.path.startswith(server.prefix) for r in server.requests)
    stored = {c.path for c in captures(store) if c.status == "complete"}
    assert {"CON", "x" * 255, "<script>alert(1)</script>.html", "C:\\Windows\\win.ini"} <= stored
    _only_store_and_database(tmp_path, set())


def test_hostile_local_names_and_files(store: Store, tmp_path: Path, clock: Clock) -> None:
    drop = tmp_path / "drop"
    names = ["CON", "<script>.txt", "x" * 255, "a\nb", "...", "..\\..\\up", " lead", "é.txt"]
    for name in names:
        put(drop, name, name.encode())
    raw = os.fsencode(drop) + b"/\xff\xfe-not-utf8"
    with open(raw, "wb") as file:
        file.write(b"bytes")
    secret = put(tmp_path, "secret/key.txt", b"outside the root")
    put(drop, "swapped.txt", b"innocent")
    os.mkfifo(drop / "fifo-later")
    os.unlink(drop / "fifo-later")
    put(drop, "later-a-fifo", b"x")
    settings = archive_settings(tmp_path, {"name": "drop", "kind": "local", "path": drop})
    target = settings.targets[0]
    now = clock()
    poll(store, target, clock)  # type: ignore[arg-type]
    # Between the listing and the download: a file becomes a link out of the root, another
    # a fifo (never opened: it would block).
    (drop / "swapped.txt").unlink()
    (drop / "swapped.txt").symlink_to(secret)
    (drop / "later-a-fifo").unlink()
    os.mkfifo(drop / "later-a-fifo")
    report = archive(store, settings, now)
    assert report.archived == len(names) + 1 and report.failed == 2
    errors = {c.path: c.error for c in captures(store) if c.status == "failed"}
    assert errors == {
        "swapped.txt": "a link that leads out of the target's root",
        "later-a-fifo": "not a regular file",
    }
    blobs = open_blob_store(settings)
    assert b"outside the root" not in {b"".join(blobs.read(h)) for h in blobs.hashes()}
    allowed = {os.path.relpath(p, tmp_path) for p in _everything_paths(drop, tmp_path)}
    allowed.add("secret/key.txt")
    _only_store_and_database(tmp_path, allowed)


def _everything_paths(drop: Path, tmp_path: Path) -> list[str]:
    return [os.path.join(drop, rel) for rel in _everything(drop)]


def test_a_full_disk_stops_the_archive_and_leaves_the_snapshot(
    store: Store, tmp_path: Path, clock: Clock, small_disk: Path
) -> None:
    drop = tmp_path / "drop"
    put(drop, "a-small.txt", b"small")
    put(drop, "b-big.bin", os.urandom(3 * 1024 * 1024))
    put(drop, "c-small.txt", b"also small")
    settings = archive_settings(
        tmp_path,
        {"name": "drop", "kind": "local", "path": drop},
        store={"store": (small_disk / "blobs").as_uri()},
    )
    target = settings.targets[0]
    now = clock()
    result = poll(store, target, clock)  # type: ignore[arg-type]
    with store.read() as conn:
        before = conn.execute(select(TABLES["snapshot"])).all()
        versions = conn.execute(select(func.count()).select_from(TABLES["version"])).scalar()
    with pytest.raises(BlobStoreError, match="no space left on the device"):
        archive(store, settings, now)
    with store.read() as conn:
        assert conn.execute(select(TABLES["snapshot"])).all() == before
        assert conn.execute(select(func.count()).select_from(TABLES["version"])).scalar() == (
            versions
        )
    assert result.ok
    assert all(c.path != "b-big.bin" for c in captures(store))
    leftovers = [p for p in (small_disk / "blobs").rglob("*") if p.is_file()]
    assert all(_BLOB.fullmatch("data/blobs/" + str(p.relative_to(small_disk / "blobs")))
               for p in leftovers)  # fmt: skip
    sizes = {p.stat().st_size for p in leftovers}
    assert 3 * 1024 * 1024 not in sizes and not list((small_disk / "blobs" / ".tmp").iterdir())


def test_archive_into_s3(store: Store, tmp_path: Path, clock: Clock, s3_bucket: S3Server) -> None:
    drop = tmp_path / "drop"
    put(drop, "a/report.csv", b"id,value\n1,2\n")
    put(drop, "b.bin", os.urandom(6 * 1024 * 1024))
    settings = archive_settings(
        tmp_path,
        {"name": "drop", "kind": "local", "path": drop},
        store={
            "store": f"s3://{s3_bucket.bucket}/evidence",
            "endpoint": s3_bucket.endpoint,
            "region": s3_bucket.region,
            "access_key_id": s3_bucket.access_key_id,
            "secret_access_key": s3_bucket.secret_access_key,
        },
    )
    _, report = poll_and_archive(store, settings, clock)
    assert (report.archived, report.stored) == (2, 2)
    for path in drop.rglob("*"):
        if path.is_file():
            path.unlink()
    poll_and_archive(store, settings, clock)
    blobs = open_blob_store(settings)
    for capture in captures(store):
        assert capture.sha256 is not None
        data = b"".join(blobs.read(capture.sha256))
        assert len(data) == capture.size
    assert not (tmp_path / "data" / "blobs").exists()
    assert not list((tmp_path / "data" / "archive-tmp").iterdir())
