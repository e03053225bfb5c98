"""Big files of a local target: read into buffers while others are hashed and written."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

import monitor.archive.local_fetch as local_fetch
from monitor.archive.blobs import open_blob_store
from monitor.archive.body import RECEIVE_BYTES, SPILL_BYTES
from monitor.archive.fetch import Wanted
from monitor.config import LocalTarget
from monitor.errors import BlobStoreError
from monitor.store import Store
from monitor.store.queries import TABLES
from tests.archive.helpers import archive, archive_settings, captures, poll_and_archive
from tests.helpers import Clock, poll, put

MiB = 1024 * 1024


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _staged(settings_dir: Path) -> list[Path]:
    staging = settings_dir / "data" / "blobs" / ".tmp"
    return list(staging.iterdir()) if staging.exists() else []


def test_big_local_files_are_stored_whole(store: Store, tmp_path: Path, clock: Clock) -> None:
    drop = tmp_path / "drop"
    bodies = {
        "just-past.bin": os.urandom(SPILL_BYTES + 1),
        "whole-buffers.bin": os.urandom(3 * RECEIVE_BYTES + SPILL_BYTES),  # no tail
        "odd.bin": b"%PDF-1.7\n" + os.urandom(9 * MiB + 123),
        "twice.bin": (same := os.urandom(5 * MiB)),
        "again.bin": same,
    }
    for name, data in bodies.items():
        put(drop, name, data)
    settings = archive_settings(tmp_path, {"name": "drop", "kind": "local", "path": drop})
    _, report = poll_and_archive(store, settings, clock)
    assert (report.archived, report.stored, report.failed) == (5, 4, 0)
    rows = {r.path: r for r in captures(store)}
    blobs = open_blob_store(settings)
    for name, data in bodies.items():
        assert rows[name].status == "complete" and rows[name].size == len(data)
        assert rows[name].sha256 == _sha(data)
        assert b"".join(blobs.read(_sha(data))) == data
    assert rows["odd.bin"].url == (drop / "odd.bin").as_uri()
    with store.read() as conn:
        blob = TABLES["blob"]
        mime = conn.execute(
            select(blob.c.mime).where(blob.c.sha256 == _sha(bodies["odd.bin"]))
        ).scalar()
    assert mime == "application/pdf"  # the type from the first bytes, as for a small body
    assert _staged(tmp_path) == []


def test_a_big_file_that_changes_while_it_is_read_is_never_stored(
    store: Store, tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer appends to one file and touches another while they are read."""
    drop = tmp_path / "drop"
    grows = put(drop, "grows.bin", os.urandom(6 * MiB))
    touched = put(drop, "touched.bin", os.urandom(6 * MiB))
    settings = archive_settings(tmp_path, {"name": "drop", "kind": "local", "path": drop})
    target = settings.targets[0]
    now = clock()
    assert poll(store, target, clock).ok  # type: ignore[arg-type]
    fill = local_fetch._fill
    done: set[str] = set()

    def writer_meanwhile(fd: int, view: memoryview) -> int:
        count = fill(fd, view)
        name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        if name not in done:  # after the first buffer of each
            done.add(name)
            if name == "grows.bin":
                with open(grows, "ab") as f:
                    f.write(b"more")
            else:
                os.utime(touched, ns=(1, 1))
        return count

    monkeypatch.setattr(local_fetch, "_fill", writer_meanwhile)
    report = archive(store, settings, now)
    assert (report.archived, report.failed) == (0, 2)
    rows = {r.path: r for r in captures(store)}
    assert rows["grows.bin"].status == "changed"
    assert "longer than" in (rows["grows.bin"].error or "")
    assert rows["touched.bin"].status == "changed"
    assert rows["touched.bin"].error == "modified since it was listed"
    assert list(open_blob_store(settings).hashes()) == []
    assert _staged(tmp_path) == []


def test_a_big_file_on_a_full_disk_stops_the_run_and_leaves_nothing(
    store: Store, tmp_path: Path, clock: Clock, small_disk: Path
) -> None:
    drop = tmp_path / "drop"
    put(drop, "big.bin", os.urandom(6 * MiB))  # the store's disk holds 1 MiB
    settings = archive_settings(
        tmp_path,
        {"name": "drop", "kind": "local", "path": drop},
        store={"store": (small_disk / "blobs").as_uri()},
    )
    assert poll(store, settings.targets[0], clock).ok  # type: ignore[arg-type]
    with pytest.raises(BlobStoreError, match="no space left on the device"):
        archive(store, settings, clock())
    assert captures(store) == []
    assert not list((small_disk / "blobs" / ".tmp").iterdir())


def _big_file(tmp_path: Path) -> tuple[Path, local_fetch.LocalFetcher]:
    """A 6 MiB file of a local target, and a fetcher of that target."""
    drop = tmp_path / "drop"
    path = put(drop, "big.bin", os.urandom(6 * MiB))
    settings = archive_settings(tmp_path, {"name": "drop", "kind": "local", "path": drop})
    target = settings.targets[0]
    assert isinstance(target, LocalTarget)
    blobs = open_blob_store(settings)
    return path, local_fetch.LocalFetcher(target, blobs, now=lambda: datetime.now(UTC))


def _wanted(path: Path) -> Wanted:
    info = path.stat()
    return Wanted(1, path.name, path.as_uri(), info.st_size, info.st_mtime_ns)


def test_a_cancelled_big_read_closes_its_file_and_keeps_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read in flight ends in its thread; only then is its descriptor closed."""
    path, fetcher = _big_file(tmp_path)
    started, release = threading.Event(), threading.Event()
    fds: list[int] = []
    fill = local_fetch._fill

    def held(fd: int, view: memoryview) -> int:
        fds.append(fd)
        started.set()
        release.wait(30)
        return fill(fd, view)

    monkeypatch.setattr(local_fetch, "_fill", held)
    wanted = _wanted(path)

    def opened() -> bool:
        try:
            return os.readlink(f"/proc/self/fd/{fds[0]}") == str(path)
        except OSError:
            return False

    async def scenario() -> tuple[bool, bool]:
        task = asyncio.create_task(fetcher.fetch(wanted, 0))
        await asyncio.to_thread(started.wait, 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        open_while_reading = opened()
        release.set()
        for _ in range(1000):  # the thread's end, then its done callback on the loop
            if not opened():
                break
            await asyncio.sleep(0)
            await asyncio.to_thread(lambda: None)
        return open_while_reading, opened()

    while_reading, after = asyncio.run(scenario())
    assert while_reading and not after
    assert _staged(tmp_path) == []


def test_a_big_read_cancelled_while_its_file_opens_closes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The open goes on in its thread after the fetch is cancelled: what it opens is closed."""
    path, fetcher = _big_file(tmp_path)
    started, release, returned = threading.Event(), threading.Event(), threading.Event()
    open_local = local_fetch.open_local

    def held(root: Path, rel: str) -> int:
        started.set()
        release.wait(30)
        try:
            return open_local(root, rel)
        finally:
            returned.set()

    monkeypatch.setattr(local_fetch, "open_local", held)
    wanted = _wanted(path)

    def open_fds() -> list[str]:
        found = []
        for name in os.listdir("/proc/self/fd"):
            try:
                found.append(os.readlink(f"/proc/self/fd/{name}"))
            except OSError:
                pass
        return [link for link in found if link == str(path)]

    async def scenario() -> list[str]:
        task = asyncio.create_task(fetcher.fetch(wanted, 0))
        await asyncio.to_thread(started.wait, 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()
        await asyncio.to_thread(returned.wait, 30)
        for _ in range(1000):  # the thread's end, then its done callback on the loop
            if not open_fds():
                break
            await asyncio.sleep(0)
            await asyncio.to_thread(lambda: None)
        return open_fds()

    assert asyncio.run(scenario()) == []
    assert _staged(tmp_path) == []
