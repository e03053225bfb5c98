"""Archiving a local target: what is selected, one copy per hash, provenance, retries."""

from __future__ import annotations

import hashlib
from pathlib import Path

from monitor.archive.blobs import open_blob_store
from monitor.store import Store
from tests.archive.helpers import archive, archive_settings, captures, poll_and_archive
from tests.helpers import Clock, put


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_new_files_are_archived_once_per_hash(store: Store, tmp_path: Path, clock: Clock) -> None:
    drop = tmp_path / "drop"
    put(drop, "a/report.pdf", b"%PDF-1.4\n" + b"x" * 5000)
    put(drop, "a/copy.pdf", b"%PDF-1.4\n" + b"x" * 5000)
    put(drop, "notes.txt", b"plain words\n")
    settings = archive_settings(tmp_path, {"name": "drop", "kind": "local", "path": drop})
    result, report = poll_and_archive(store, settings, clock)
    assert result.status == "complete"
    assert (report.archived, report.stored, report.failed, report.skipped) == (3, 2, 0, 0)
    rows = captures(store)
    assert {r.path: r.status for r in rows} == {
        "a/copy.pdf": "complete",
        "a/report.pdf": "complete",
        "notes.txt": "complete",
    }
    pdf = next(r for r in rows if r.path == "a/report.pdf")
    assert pdf.sha256 == _sha(b"%PDF-1.4\n" + b"x" * 5000) and pdf.size == 5009
    assert pdf.url == (drop / "a/report.pdf").as_uri()
    blobs = open_blob_store(settings)
    assert sorted(blobs.hashes()) == sorted({r.sha256 for r in rows if r.sha256})
    # Nothing new: the next poll fetches nothing.
    _, again = poll_and_archive(store, settings, clock)
    assert (again.archived, again.failed) == (0, 0)
    assert len(captures(store)) == 3
    # The server deletes everything: the copies stay.
    for path in drop.rglob("*"):
        if path.is_file():
            path.unlink()
    poll_and_archive(store, settings, clock)
    assert b"".join(blobs.read(pdf.sha256 or "")) == b"%PDF-1.4\n" + b"x" * 5000


def test_a_held_suspect_snapshot_archives_nothing(
    store: Store, tmp_path: Path, clock: Clock
) -> None:
    drop = tmp_path / "drop"
    for i in range(4):
        put(drop, f"old{i}.txt", f"old {i}".encode())
    settings = archive_settings(
        tmp_path, {"name": "drop", "kind": "local", "path": drop, "suspect_min_removed": 2}
    )
    poll_and_archive(store, settings, clock)
    for i in range(4):
        (drop / f"old{i}.txt").unlink()
    put(drop, "new.txt", b"new")
    result, _ = poll_and_archive(store, settings, clock)
    assert result.status == "suspect"
    report = archive(store, settings, clock())
    assert report.archived == 0 and "held" in (report.note or "")
    result, report = poll_and_archive(store, settings, clock)  # confirms: applied now
    assert result.confirmed and report.archived == 1
