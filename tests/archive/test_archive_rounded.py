"""Listings that round sizes (lighttpd, Apache's fancy index, nginx with exact sizes off):
the body is checked against what the server could have printed, when the server frames it."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from monitor.archive.blobs import open_blob_store
from monitor.sources.listings.common import parse_size, printed_as
from monitor.store import Store
from tests.archive.helpers import archive_settings, captures, poll_and_archive
from tests.archive.servers import FileServer
from tests.helpers import Clock
from tests.live_servers import (
    Server,
    apache_server,
    lighttpd_server,
    missing,
    nginx_server,
    scratch,
    serving,
)
from tests.servers import Fault

BODIES = {
    "small.txt": b"x" * 500,  # lighttpd: 0.5K
    "a.bin": os.urandom(5000),  # 4.9K
    "just-over.bin": os.urandom(1075),  # Apache: 1.0K, below the 1,024 listed
    "ep01/c.bin": os.urandom(3 * 1024 * 1024 + 5),  # 3.0M, 3M
}


@pytest.mark.parametrize(
    ("size", "text"),
    [(500, "0.5K"), (5000, "4.9K"), (1075, "1.0K"), (1900, "2K"), (4796, "4.7K"), (50, "0.1K"),
     (3 * 1024 * 1024 + 5, "3.0M"), (5 * 1024**3 - 1, "5G"), (1234, "1234")],
)  # fmt: skip
def test_sizes_a_server_could_print_so(size: int, text: str) -> None:
    listed = parse_size(text)
    assert listed is not None and printed_as(size, listed)


@pytest.mark.parametrize(
    ("size", "text"),
    [(4000, "4.9K"), (1233, "1234"), (1235, "1234"), (1900, "1K"), (6000, "4.9K")],
)
def test_sizes_no_rounding_explains(size: int, text: str) -> None:
    listed = parse_size(text)
    assert listed is not None and not printed_as(size, listed)


@pytest.fixture(scope="module")
def tree() -> Iterator[Path]:
    with scratch("archive-rounded-") as base:
        root = base / "www"
        for rel, data in BODIES.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
            path.write_bytes(data)
            path.chmod(0o644)
        os.chmod(root, 0o755)
        yield base


@pytest.mark.parametrize(
    ("make", "variant"),
    [(lighttpd_server, 0), (apache_server, 1), (apache_server, 3), (nginx_server, 1)],
    ids=["lighttpd", "apache-fancy", "apache-debian", "nginx-exact-size-off"],
)
def test_a_rounding_listing_is_archived_whole(
    store: Store,
    tmp_path: Path,
    clock: Clock,
    tree: Path,
    make: Callable[[Path, Path], Server],
    variant: int,
) -> None:
    work = Path(tempfile.mkdtemp(prefix=make.__name__, dir=tree))
    work.chmod(0o777)
    reason = missing(make(tree / "www", work))
    if reason is not None:
        pytest.skip(reason)
    with serving(make, tree / "www", work) as server:
        chosen = server.variants[variant]
        target = {"name": "web", "kind": "http", "url": chosen.url, "rate": 1000,
                  "listing_timezone": chosen.zone}  # fmt: skip
        settings = archive_settings(tmp_path, target)
        result, report = poll_and_archive(store, settings, clock)
    assert result.status == "complete"
    rows = {c.path: c for c in captures(store)}
    assert {p: c.status for p, c in rows.items()} == dict.fromkeys(BODIES, "complete")
    blobs = open_blob_store(settings)
    for rel, data in BODIES.items():
        assert rows[rel].size == len(data)
        assert rows[rel].sha256 == hashlib.sha256(data).hexdigest()
        assert b"".join(blobs.read(rows[rel].sha256 or "")) == data
    # The listing did round: some listed size is not the file's.
    assert any(rows[rel].expected_size != len(data) for rel, data in BODIES.items())
    assert report.failed == 0


def test_a_body_without_a_length_must_match_the_listing_exactly(
    store: Store, tmp_path: Path, clock: Clock
) -> None:
    """A cut body has no framing to prove it whole: 20,000 bytes where nginx lists ``20K``
    (20,480) could be a cut 20,480-byte file, so it is not stored."""
    with FileServer({}) as server:
        body = b"1" * 20000
        server.set("a.bin", body, listed="20K")
        server.set("b.bin", b"2" * 20000, listed="20K")
        server.faults[server.file_url_path("a.bin")] = Fault(
            200, body=body, close_delimited=True, cut=len(body)
        )
        settings = archive_settings(
            tmp_path, {"name": "web", "kind": "http", "url": server.url, "retries": 0}
        )
        _, report = poll_and_archive(store, settings, clock)
    rows = {c.path: c for c in captures(store)}
    assert rows["a.bin"].status == "changed" and rows["a.bin"].sha256 is None
    assert rows["a.bin"].expected_size == 20480
    assert "20000 bytes received" in (rows["a.bin"].error or "")
    assert rows["b.bin"].status == "complete"  # its Content-Length frames it
    assert (report.archived, report.failed) == (1, 1)


def test_an_exact_listing_stays_exact(store: Store, tmp_path: Path, clock: Clock) -> None:
    """Where the listing prints bytes, a body of another length is another file, even one a
    rounding listing could have shown so (5,018 is ``4.9K``, 1 MiB is ``1M``)."""
    with FileServer({}) as server:
        server.set("a.bin", b"1" * 5000, listed=5018)
        server.set("b.bin", b"2" * 600 * 1024, listed=1024 * 1024)
        server.set("c.bin", b"3" * 700)
        settings = archive_settings(tmp_path, {"name": "web", "kind": "http", "url": server.url})
        _, report = poll_and_archive(store, settings, clock)
    rows = {c.path: c for c in captures(store)}
    assert {p: c.status for p, c in rows.items()} == {
        "a.bin": "changed",
        "b.bin": "changed",
        "c.bin": "complete",
    }
    assert (report.archived, report.failed) == (1, 2)


@pytest.mark.parametrize(
    ("size", "text"), [(1, "1K"), (10, "1.0M"), (1, "1G"), (3 * 1024**3 + 1, "4G")]
)
def test_no_server_rounds_a_size_up_to_a_whole_unit(size: int, text: str) -> None:
    """Rounded up to a whole unit, any body from one byte would agree with ``1M``."""
    listed = parse_size(text)
    assert listed is not None and not printed_as(size, listed)


def test_a_tiny_body_is_not_a_listed_mebibyte(store: Store, tmp_path: Path, clock: Clock) -> None:
    """A file replaced since the listing (or a short page served with 200) is framed by its
    Content-Length too: 10 bytes where a rounding listing shows ``1M`` were never printed so."""
    with FileServer({}) as server:
        server.set("big.bin", b"x" * 10, listed="1M")
        server.set("kib.bin", b"y", listed="1K")
        settings = archive_settings(tmp_path, {"name": "web", "kind": "http", "url": server.url})
        _, report = poll_and_archive(store, settings, clock)
    rows = {c.path: c for c in captures(store)}
    assert {p: c.status for p, c in rows.items()} == {"big.bin": "changed", "kib.bin": "changed"}
    assert "10 bytes announced" in (rows["big.bin"].error or "")
    assert report.archived == 0
