"""Blob stores: a folder and S3 (moto's server) behave the same through the BlobStore API."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from monitor.archive.blobs import BlobStore, LocalBlobStore, open_blob_store
from monitor.archive.blobs import local as local_blobs
from monitor.config import Settings
from monitor.errors import ArchiveError, BlobMissing, BlobStoreError, ConfigError
from tests.archive.conftest import S3Server


def _settings(tmp_path: Path, **archive: object) -> Settings:
    return Settings.model_validate({"data_dir": tmp_path / "data", "archive": archive})


@pytest.fixture(params=["file", "s3"])
def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "file":
        return open_blob_store(_settings(tmp_path))
    s3: S3Server = request.getfixturevalue("s3_bucket")
    return open_blob_store(
        _settings(
            tmp_path,
            store=f"s3://{s3.bucket}/evidence",
            endpoint=s3.endpoint,
            region=s3.region,
            access_key_id=s3.access_key_id,
            secret_access_key=s3.secret_access_key,
        )
    )


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_put_read_exists_size_hashes_delete(blob_store: BlobStore) -> None:
    one, two = b"first body\n" * 1000, os.urandom(3 * 1024 * 1024 + 7)
    assert asyncio.run(blob_store.put_stream(_sha(one), _chunks(one[:10], one[10:])))
    assert asyncio.run(blob_store.put_stream(_sha(two), _chunks(two)))
    # One copy per hash: the same content again stores nothing new.
    assert not asyncio.run(blob_store.put_stream(_sha(one), _chunks(one)))

    assert b"".join(blob_store.read(_sha(one))) == one
    assert b"".join(blob_store.read(_sha(two))) == two
    assert blob_store.exists(_sha(one)) and blob_store.size(_sha(two)) == len(two)
    assert sorted(blob_store.hashes()) == sorted([_sha(one), _sha(two)])

    blob_store.delete(_sha(one))
    blob_store.delete(_sha(one))  # absent: nothing happens
    assert not blob_store.exists(_sha(one)) and blob_store.size(_sha(one)) is None
    assert list(blob_store.hashes()) == [_sha(two)]
    with pytest.raises(BlobMissing, match=_sha(one)):
        blob_store.read(_sha(one))
    # Nothing is left in the staging folder.
    assert not list(blob_store.staging_dir().glob("*"))


def test_put_of_a_finished_temp_file_takes_it_over(blob_store: BlobStore) -> None:
    data = b"staged"
    with blob_store.temp_file() as (path, file):
        file.write(data)
    assert path.exists()
    assert asyncio.run(blob_store.put(_sha(data), path))
    assert not path.exists()
    assert b"".join(blob_store.read(_sha(data))) == data


def test_a_wrong_hash_stores_nothing(blob_store: BlobStore) -> None:
    with pytest.raises(ArchiveError, match="hash to"):
        asyncio.run(blob_store.put_stream(_sha(b"other"), _chunks(b"this")))
    assert list(blob_store.hashes()) == []
    assert not list(blob_store.staging_dir().glob("*"))


@pytest.mark.parametrize(
    "name",
    ["../" + "a" * 61, "A" * 64, "a" * 63, "a" * 65, "/etc/passwd", "a" * 63 + "\x00", ""],
)
def test_only_hex_hashes_are_names(blob_store: BlobStore, name: str) -> None:
    for call in (blob_store.exists, blob_store.size, blob_store.read, blob_store.delete):
        with pytest.raises(ArchiveError, match="not a SHA-256"):
            call(name)
    with pytest.raises(ArchiveError, match="not a SHA-256"):
        asyncio.run(blob_store.put_stream(name, _chunks(b"x")))


def test_local_layout_and_atomic_write(tmp_path: Path) -> None:
    store = open_blob_store(_settings(tmp_path))
    assert isinstance(store, LocalBlobStore)
    assert store.root == tmp_path / "data" / "blobs"
    sha = _sha(b"body")
    asyncio.run(store.put_stream(sha, _chunks(b"body")))
    assert (store.root / sha[:2] / sha).read_bytes() == b"body"
    assert store.path_of(sha) == store.root / sha[:2] / sha
    # Stray files in the folder are not blobs.
    (store.root / sha[:2] / "notes.txt").write_text("x")
    (store.root / sha[:2] / ("c" * 64)).write_text("x")  # a hash, in the wrong folder
    (store.root / "zz").mkdir()
    (store.root / "zz" / ("b" * 64)).write_text("x")
    assert list(store.hashes()) == [sha]


def test_a_store_of_the_older_layout_is_read_checked_and_kept(tmp_path: Path) -> None:
    """Blobs an older version kept one level deeper (``ab/cd/<sha256>``) are still blobs."""
    store = LocalBlobStore(tmp_path / "blobs")
    old, new = b"stored by an older version", b"stored now"
    older = store.root / _sha(old)[:2] / _sha(old)[2:4] / _sha(old)
    older.parent.mkdir(parents=True)
    older.write_bytes(old)
    (older.parent / ("d" * 64)).write_text("x")  # a hash, in the wrong folder
    assert store.exists(_sha(old)) and store.size(_sha(old)) == len(old)
    assert b"".join(store.read(_sha(old))) == old and store.path_of(_sha(old)) == older
    assert not asyncio.run(store.put_bytes(_sha(old), old))  # stored already: not written again
    assert not asyncio.run(store.put_stream(_sha(old), _chunks(old)))
    assert not (store.root / _sha(old)[:2] / _sha(old)).exists()
    assert asyncio.run(store.put_many([(_sha(new), new), (_sha(old), old)])) == [True, False]
    assert sorted(store.hashes()) == sorted([_sha(old), _sha(new)])
    store.delete(_sha(old))
    assert not older.exists() and not store.exists(_sha(old))
    assert list(store.hashes()) == [_sha(new)]


def test_file_url_and_unknown_kinds(tmp_path: Path) -> None:
    folder = tmp_path / "my blobs"
    store = open_blob_store(_settings(tmp_path, store=folder.as_uri()))
    assert isinstance(store, LocalBlobStore) and store.root == folder
    assert store.describe() == f"folder {folder}"
    with pytest.raises(ConfigError, match="local folder"):
        open_blob_store(_settings(tmp_path, store="file://otherhost/x"))


def test_s3_describe_names_bucket_and_endpoint(s3_bucket: S3Server, tmp_path: Path) -> None:
    store = open_blob_store(
        _settings(tmp_path, store=f"s3://{s3_bucket.bucket}", endpoint=s3_bucket.endpoint)
    )
    assert store.describe() == f"s3://{s3_bucket.bucket} at {s3_bucket.endpoint}"


def test_s3_without_obstore_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "obstore", None)
    with pytest.raises(BlobStoreError, match=r"filedrop-monitor\[s3\]"):
        open_blob_store(_settings(tmp_path, store="s3://bucket/x"))


def test_s3_unreachable_is_a_blob_store_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        store = open_blob_store(
            _settings(
                tmp_path,
                store="s3://bucket/x",
                endpoint=f"http://127.0.0.1:{port}",
                access_key_id="k",
                secret_access_key="s",
                region="us-east-1",
            )
        )
        with pytest.raises(BlobStoreError, match="cannot look up"):
            store.exists("a" * 64)


@pytest.mark.parametrize("group_sync", [True, False])
def test_local_durability_modes(tmp_path: Path, group_sync: bool) -> None:
    store = LocalBlobStore(tmp_path / "blobs", group_sync=group_sync)
    data = os.urandom(5000)
    assert asyncio.run(store.put_bytes(_sha(data), data))
    asyncio.run(store.sync())
    assert b"".join(store.read(_sha(data))) == data
    assert not asyncio.run(store.put_bytes(_sha(data), data))


def test_a_short_file_under_a_blob_name_is_replaced(tmp_path: Path) -> None:
    """What a crash between a put and its sync can leave is not taken for the blob."""
    store = LocalBlobStore(tmp_path / "blobs")
    data = b"the whole body"
    path = store.path_of(_sha(data))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    assert asyncio.run(store.put_bytes(_sha(data), data))
    assert path.read_bytes() == data


@pytest.fixture(params=["disk", "tmpfs"])
def local_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalBlobStore]:
    """A folder store on this disk (O_DIRECT writes) and on a tmpfs (which may refuse them:
    written through the page cache instead)."""
    folder = tmp_path / "blobs"
    folder.mkdir()
    if request.param == "tmpfs":
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(folder)],
                              capture_output=True, text=True)  # fmt: skip
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield LocalBlobStore(folder)
    finally:
        if request.param == "tmpfs":
            subprocess.run(["umount", "-l", str(folder)], check=False)


SIZES = [0, 1, 4095, 4096, 4097, 64 * 1024 + 1, 1024 * 1024 + 3]


def test_put_many_stores_every_size_exactly_once(local_store: LocalBlobStore) -> None:
    """Bodies of every size against the 4 KiB blocks O_DIRECT writes, a body twice in a
    batch, a small body after a big one (the padding of a reused buffer must not show)."""
    bodies = [os.urandom(size) for size in SIZES]
    batch = [(_sha(b), b) for b in bodies]
    news = asyncio.run(local_store.put_many([*batch, batch[3]]))
    assert news == [True] * len(bodies) + [False]
    later = [os.urandom(10), os.urandom(5000)]
    assert asyncio.run(local_store.put_many([(_sha(b), b) for b in later])) == [True, True]
    asyncio.run(local_store.sync())
    for body in [*bodies, *later]:
        path = local_store.path_of(_sha(body))
        assert path.read_bytes() == body
        assert path.stat().st_mode & 0o777 == 0o440
    assert sorted(local_store.hashes()) == sorted(_sha(b) for b in [*bodies, *later])
    assert not list(local_store.staging_dir().glob("*"))
    assert asyncio.run(local_store.put_many(batch[:2])) == [False, False]  # stored already


def test_small_blobs_leave_o_direct_where_it_is_slow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where a batch's O_DIRECT writes take longer than the threshold (a spinning disk, a
    network file system), the store writes small blobs through the page cache from then on.
    No slow device can be made here (no device-mapper): the threshold is set to nothing."""
    store = LocalBlobStore(tmp_path / "blobs")
    assert store.direct
    first = [os.urandom(5000) for _ in range(3)]
    assert asyncio.run(store.put_many([(_sha(b), b) for b in first])) == [True] * 3
    store.direct = True  # however long the first batch took on this machine
    monkeypatch.setattr(local_blobs, "_SLOW_DIRECT", 0.0)
    monkeypatch.setattr(local_blobs, "_DIRECT_RATE", float("inf"))
    second = [os.urandom(70_000) for _ in range(3)]
    assert asyncio.run(store.put_many([(_sha(b), b) for b in second])) == [True] * 3
    assert not store.direct
    third = [os.urandom(4097) for _ in range(3)]
    assert asyncio.run(store.put_many([(_sha(b), b) for b in third])) == [True] * 3
    asyncio.run(store.sync())
    for body in [*first, *second, *third]:
        assert store.path_of(_sha(body)).read_bytes() == body
