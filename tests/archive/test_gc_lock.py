"""``gc --apply`` and archive runs never overlap: a body a run found stored is not deleted
before the run's row names it."""

from __future__ import annotations

import asyncio
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest

import monitor.archive.lock as archive_lock
import monitor.archive.run as archive_run
from monitor.archive.blobs import open_blob_store
from monitor.archive.gc import collect_garbage
from monitor.errors import MonitorError
from monitor.store import Store
from tests.archive.helpers import archive, archive_settings, captures, poll_and_archive
from tests.helpers import Clock, poll, put

BODY = b"the same bytes, delivered twice\n"
AGES = {"drop": timedelta(days=1)}


def _gc(store: Store, settings: Any, clock: Clock, **kw: Any) -> Any:
    later = clock() + timedelta(days=10)
    blobs = open_blob_store(settings)
    return collect_garbage(store, blobs, AGES, now=later, zone=UTC, apply=True, **kw)


def test_a_body_found_stored_outlives_a_gc_that_comes_meanwhile(
    store: Store, tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """a.txt is archived, then removed; b.txt comes with the same bytes. While b.txt's run is
    between finding the body stored and recording its row, a gc would see the body named by
    nothing but a.txt's expired capture."""
    drop = tmp_path / "drop"
    put(drop, "a.txt", BODY)
    settings = archive_settings(
        tmp_path, {"name": "drop", "kind": "local", "path": drop}, max_age="1d"
    )
    poll_and_archive(store, settings, clock)
    (drop / "a.txt").unlink()
    put(drop, "b.txt", BODY)
    clock.advance(days=3)
    now = clock()
    assert poll(store, settings.targets[0], clock).ok  # type: ignore[arg-type]
    refused: list[str] = []
    write_records = archive_run.write_records

    def gc_first(*args: Any) -> None:
        try:
            _gc(store, settings, clock, wait=0)
        except MonitorError as exc:
            refused.append(str(exc))
        write_records(*args)

    monkeypatch.setattr(archive_run, "write_records", gc_first)
    report = archive(store, settings, now)
    assert report.archived == 1 and report.stored == 0  # found stored, not written again
    assert refused and "an archive run" in refused[0] and "nothing was removed" in refused[0]
    blobs = open_blob_store(settings)
    (b,) = [c for c in captures(store) if c.path == "b.txt"]
    assert b.status == "complete" and b.sha256 is not None and blobs.exists(b.sha256)
    # Once the run is over, gc takes a.txt's expired capture and keeps the body b.txt names.
    monkeypatch.setattr(archive_run, "write_records", write_records)
    done = _gc(store, settings, clock, wait=0)
    assert [r.path for r in done.of("capture")] == ["a.txt"] and done.of("blob") == []
    assert blobs.exists(b.sha256)


def test_gc_waits_for_a_run_and_a_run_for_gc(
    store: Store, tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop = tmp_path / "drop"
    put(drop, "a.txt", BODY)
    settings = archive_settings(tmp_path, {"name": "drop", "kind": "local", "path": drop})

    async def held_by_a_run() -> archive_lock.ArchiveLock:
        return await archive_lock.shared(store, wait=0)

    run = asyncio.run(held_by_a_run())
    another = asyncio.run(held_by_a_run())  # runs share it
    with pytest.raises(MonitorError, match="nothing was removed"):
        _gc(store, settings, clock, wait=0.3)
    run.release()
    with pytest.raises(MonitorError, match="nothing was removed"):
        _gc(store, settings, clock, wait=0)
    another.release()
    with archive_lock.alone(store, wait=0):  # a gc holds it: no run starts
        monkeypatch.setattr(archive_lock, "WAIT_SECONDS", 0.3)
        with pytest.raises(MonitorError, match="monitor gc kept the archive locked"):
            poll_and_archive(store, settings, clock)
        assert captures(store) == []
    _, report = poll_and_archive(store, settings, clock)
    assert report.archived == 1
    _gc(store, settings, clock, wait=0)  # nothing holds it now
