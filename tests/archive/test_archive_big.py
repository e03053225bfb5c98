"""Big bodies over HTTP (past the in-memory limit, framed by Content-Length): received straight
from the socket into buffers, hashed and written by worker threads — with every guarantee of
small ones: the bytes stored are the bytes hashed, a cut body is never stored, a full disk
stops the run and leaves no temporary file."""

from __future__ import annotations

import hashlib
import os
import ssl
from pathlib import Path

import pytest

from monitor.archive.blobs import open_blob_store
from monitor.archive.body import RECEIVE_BUFFERS, RECEIVE_BYTES, SPILL_BYTES
from monitor.config import Settings
from monitor.errors import BlobStoreError
from monitor.store import Store
from tests.archive.helpers import archive_settings, captures, poll_and_archive
from tests.archive.servers import FileServer
from tests.helpers import Clock, put
from tests.servers import Fault, make_cert, nginx

#: More buffers than the ring holds, and a tail that is not a whole number of disk blocks.
ODD = os.urandom(SPILL_BYTES + RECEIVE_BUFFERS * RECEIVE_BYTES + 4097)
#: Whole buffers only.
EVEN = os.urandom(SPILL_BYTES + 2 * RECEIVE_BYTES)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _http(url: str, **kw: object) -> dict[str, object]:
    return {"name": "web", "kind": "http", "url": url, "rate": 1000, "retries": 2, **kw}


def _stored(settings: Settings) -> dict[str, bytes]:
    """Every blob of the store's folder by name; nothing else may be there (no temp file)."""
    root = settings.data_dir / "blobs"
    files = [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
    assert all(p.parent.parent == root and p.parent.name == p.name[:2] for p in files), files
    return {p.name: p.read_bytes() for p in files}


def test_nginx_big_files_are_stored_whole(store: Store, tmp_path: Path, clock: Clock) -> None:
    drop = tmp_path / "drop"
    put(drop, "big/odd.bin", ODD)
    put(drop, "big/even.bin", EVEN)
    put(drop, "small.txt", b"small\n")
    with nginx(drop, tmp_path / "nginx") as base:
        settings = archive_settings(tmp_path, _http(f"{base}/"))
        _, report = poll_and_archive(store, settings, clock)
    assert (report.archived, report.failed) == (3, 0)
    assert report.bytes == len(ODD) + len(EVEN) + 6
    assert _stored(settings) == {_sha(ODD): ODD, _sha(EVEN): EVEN, _sha(b"small\n"): b"small\n"}
    rows = {c.path: c for c in captures(store)}
    odd = rows["big/odd.bin"]
    assert odd.sha256 == _sha(ODD) and odd.size == len(ODD) and odd.ip == "127.0.0.1"
    assert odd.http_status == 200 and f'"content-length": "{len(ODD)}"' in (odd.headers or "")


def test_a_big_body_cut_short_is_never_stored_and_is_tried_again(
    store: Store, tmp_path: Path, clock: Clock
) -> None:
    with FileServer({"big.bin": ODD, "small.txt": b"s"}) as server:
        path = server.file_url_path("big.bin")
        server.faults[path] = Fault(200, body=ODD, cut=len(ODD) - RECEIVE_BYTES // 2)
        settings = archive_settings(tmp_path, _http(server.url))
        _, report = poll_and_archive(store, settings, clock)
        assert (report.archived, report.failed) == (1, 1)
        assert server.count(path) == 3  # retries = 2
        (failed,) = [c for c in captures(store) if c.path == "big.bin"]
        assert failed.status == "failed" and failed.sha256 is None
        assert "body cut short" in (failed.error or "")
        assert _stored(settings) == {_sha(b"s"): b"s"}  # no blob, no temporary file
        del server.faults[path]
        _, report = poll_and_archive(store, settings, clock)
    assert (report.archived, report.failed) == (1, 0)
    assert _stored(settings)[_sha(ODD)] == ODD


def test_a_big_body_longer_than_announced_is_cut_at_its_length(
    store: Store, tmp_path: Path, clock: Clock
) -> None:
    """A server that sends more than its Content-Length: only the announced bytes are read."""
    with FileServer({"big.bin": EVEN}) as server:
        more = EVEN + b"trailing garbage"
        server.faults[server.file_url_path("big.bin")] = Fault(
            200,
            body=more,
            cut=len(more),
            close_delimited=True,  # no Content-Length of its own: ours says less
            headers={"Content-Length": str(len(EVEN))},
        )
        settings = archive_settings(tmp_path, _http(server.url))
        _, report = poll_and_archive(store, settings, clock)
    assert (report.archived, report.failed) == (1, 0)
    assert _stored(settings) == {_sha(EVEN): EVEN}


def test_a_big_https_download_records_the_certificate(
    store: Store, tmp_path: Path, clock: Clock
) -> None:
    cert, key = make_cert(tmp_path, "server")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with FileServer({"big.bin": ODD, "top.txt": b"top"}, tls=context) as server:
        settings = archive_settings(tmp_path, _http(server.url, ca_bundle=str(cert)))
        _, report = poll_and_archive(store, settings, clock)
    assert (report.archived, report.failed) == (2, 0)
    assert _stored(settings)[_sha(ODD)] == ODD
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    assert {c.tls_fingerprint for c in captures(store)} == {hashlib.sha256(der).hexdigest()}


def test_a_big_body_on_a_full_disk_stops_the_run_and_leaves_nothing(
    store: Store, tmp_path: Path, clock: Clock, small_disk: Path
) -> None:
    """tmpfs: no O_DIRECT, so the writes go through the page cache until the disk is full."""
    with FileServer({"big.bin": EVEN}) as server:
        settings = archive_settings(
            tmp_path, _http(server.url), store={"store": (small_disk / "blobs").as_uri()}
        )
        with pytest.raises(BlobStoreError, match="no space left on the device"):
            poll_and_archive(store, settings, clock)
    assert captures(store) == []
    assert not [p for p in (small_disk / "blobs").rglob("*") if p.is_file()]
    assert list(open_blob_store(settings).hashes()) == []
