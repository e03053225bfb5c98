"""Batches: the list and its filters, one batch with its files and archive, the review trail,
bulk review, notes and the review queue."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from monitor.errors import MonitorError, NotFound, UsageError
from monitor.store.queries import review_event_t
from monitor.views.batches import (
    BatchDetail,
    add_note,
    batch_detail,
    batch_list,
    review,
    review_many,
    review_queue,
)
from tests.archive.helpers import archive
from tests.helpers import Clock, put
from tests.views.conftest import PARIS, World, make_world, paris

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
NOTES = b"plain notes\n"


@pytest.fixture
def batches(tmp_path: Path, db_url: str, drop: Path, clock: Clock) -> Iterator[World]:
    """Four batches: 1 (ep01, archived) and 2 (ep02) settled on the 20th, 3 (ep03) settled on
    the 21st, 4 (ep04) still open."""
    world = make_world(tmp_path, db_url, drop, clock, "archive = { enabled = true }")
    put(drop, "root.txt", b"r")
    world.poll("2026-11-20T10:00")
    put(drop, "ep01/a.png", PNG, mtime=1_700_000_001)
    put(drop, "ep01/notes.txt", NOTES, mtime=1_700_000_002)
    put(drop, "ep02/x.bin", b"x" * 30, mtime=1_700_000_003)
    world.poll("2026-11-20T11:00")
    archive(world.store, world.settings, paris("2026-11-20T11:05"))
    world.poll("2026-11-20T12:30")
    put(drop, "ep03/y.txt", b"y" * 3, mtime=1_700_000_004)
    world.poll("2026-11-20T13:00")
    put(drop, "ep04/z.txt", b"z" * 4, mtime=1_700_000_005)
    world.poll("2026-11-21T10:00")
    yield world
    world.store.close()


def events(world: World) -> int:
    with world.store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(review_event_t)).scalar_one())


def test_list_filters_and_paging(batches: World) -> None:
    with batches.store.read() as conn:
        every = batch_list(conn, zone=PARIS)
        assert [(b.id, b.folder, b.status) for b in every.items] == [
            (4, "ep04", "open"), (3, "ep03", "settled"), (2, "ep02", "settled"),
            (1, "ep01", "settled"),
        ]  # fmt: skip
        assert every.total == 4
        cli = {b["batch"]: b for b in batches.cli.json("batches")}
        for b in every.items:
            assert (b.files, b.bytes, b.review) == (
                cli[b.id]["files"], cli[b.id]["bytes"], cli[b.id]["review"]
            )  # fmt: skip
        one = every.items[3]
        assert (one.files, one.bytes, one.target) == (2, len(PNG) + len(NOTES), "drop")
        assert one.opened_at.isoformat() == "2026-11-20T11:00:00+01:00"
        assert one.settled_at is not None and one.settled_at == paris("2026-11-20T12:30")
        assert [b.id for b in batch_list(conn, zone=PARIS, status="open").items] == [4]
        on_21 = batch_list(conn, zone=PARIS, start=date(2026, 11, 21), end=date(2026, 11, 21))
        assert [b.id for b in on_21.items] == [4]
        on_20 = batch_list(conn, zone=PARIS, end=date(2026, 11, 20), target="drop")
        assert [b.id for b in on_20.items] == [3, 2, 1]
        paged = batch_list(conn, zone=PARIS, offset=1, limit=2)
        assert ([b.id for b in paged.items], paged.total) == ([3, 2], 4)
        assert batch_list(conn, zone=PARIS, review="flagged").total == 0
        with pytest.raises(UsageError, match="review status"):
            batch_list(conn, zone=PARIS, review="nice")
        with pytest.raises(NotFound):
            batch_list(conn, zone=PARIS, target="nope")


def detail(world: World, batch_id: int, **kw: object) -> BatchDetail:
    with world.store.read() as conn:
        return batch_detail(conn, world.settings, batch_id, zone=PARIS, **kw)  # type: ignore[arg-type]


def test_batch_files_with_their_archived_bodies(batches: World) -> None:
    first = detail(batches, 1)
    png, notes = first.files.items
    assert (png.path, png.size, png.change, png.now, png.type) == (
        "ep01/a.png",
        len(PNG),
        "added",
        "present",
        "file",
    )
    assert png.url == (batches.drop / "ep01/a.png").as_uri()
    assert png.mtime is not None and png.mtime.isoformat() == "2023-11-14T23:13:21.123456+01:00"
    assert png.archive.archived and png.archive.status == "complete"
    assert png.archive.sha256 == hashlib.sha256(PNG).hexdigest()
    assert (png.archive.mime, png.archive.size) == ("image/png", len(PNG))
    assert notes.archive.mime == "text/plain"
    assert notes.archive.fetched_at is not None and notes.archive.fetched_at.tzinfo == PARIS
    # Batch 3 arrived after the archive ran: nothing stored, never tried.
    (later,) = detail(batches, 3).files.items
    assert (later.archive.archived, later.archive.status, later.archive.sha256) == (
        False,
        None,
        None,
    )
    # A file changed since, and one gone: the batch still shows the state it holds.
    put(batches.drop, "ep01/notes.txt", b"rewritten", mtime=1_700_000_009)
    (batches.drop / "ep01/a.png").unlink()
    batches.poll("2026-11-21T12:00")
    png, notes = detail(batches, 1).files.items
    assert (png.now, notes.now, notes.size) == ("gone", "changed", len(NOTES))
    page = detail(batches, 1, offset=1, limit=1).files
    assert ([f.path for f in page.items], page.total) == (["ep01/notes.txt"], 2)
    with pytest.raises(NotFound):
        detail(batches, 99)


def test_review_trail_shows_who_and_why(batches: World) -> None:
    with batches.store.write() as conn:
        row = review(
            conn, 1, status="reviewed", actor="ana", note="looked fine",
            now=paris("2026-11-21T11:00"), zone=PARIS,
        )  # fmt: skip
    assert (row.review, row.reviewed_by, row.note) == ("reviewed", "ana", "looked fine")
    with batches.store.write() as conn:
        review(
            conn, 1, status="flagged", actor="bob", note="credentials in notes.txt",
            now=paris("2026-11-21T12:00"), zone=PARIS,
        )  # fmt: skip
    seen = detail(batches, 1)
    assert [(e.actor, e.from_status, e.to_status, e.note) for e in seen.events] == [
        ("ana", "new", "reviewed", "looked fine"),
        ("bob", "reviewed", "flagged", "credentials in notes.txt"),
    ]
    assert seen.events[1].at.isoformat() == "2026-11-21T12:00:00+01:00"
    assert (seen.batch.review, seen.batch.reviewed_by) == ("flagged", "bob")
    cli = batches.cli.json("batch", "1")["events"]
    assert [(e["actor"], e["to_status"], e["note"]) for e in cli] == [
        (e.actor, e.to_status, e.note) for e in seen.events
    ]
    with batches.store.write() as conn, pytest.raises(MonitorError, match="unknown review"):
        review(conn, 1, status="great", actor="x", now=paris("2026-11-21T12:00"), zone=PARIS)


def test_bulk_review_writes_one_event_per_batch(batches: World) -> None:
    now = paris("2026-11-21T13:00")
    with batches.store.write() as conn:
        rows = review_many(
            conn, [3, 2, 3], status="dismissed", actor="ana", note="test uploads", now=now,
            zone=PARIS,
        )  # fmt: skip
    assert [(r.id, r.review, r.note, r.reviewed_by) for r in rows] == [
        (3, "dismissed", "test uploads", "ana"), (2, "dismissed", "test uploads", "ana"),
    ]  # fmt: skip
    assert events(batches) == 2
    for batch_id in (2, 3):
        (event,) = detail(batches, batch_id).events
        assert (event.from_status, event.to_status, event.note) == (
            "new",
            "dismissed",
            "test uploads",
        )
    # One missing batch: nothing is written.
    with pytest.raises(NotFound), batches.store.write() as conn:
        review_many(conn, [1, 99], status="reviewed", actor="ana", now=now, zone=PARIS)
    assert events(batches) == 2
    assert detail(batches, 1).batch.review == "new"
    with batches.store.write() as conn, pytest.raises(UsageError):
        review_many(conn, [], status="reviewed", actor="ana", now=now, zone=PARIS)


def test_a_note_alone_keeps_the_status(batches: World) -> None:
    with batches.store.write() as conn:
        row = add_note(
            conn, 4, note="still uploading?", actor="bob", now=paris("2026-11-21T14:00"),
            zone=PARIS,
        )  # fmt: skip
    assert (row.review, row.note, row.reviewed_by, row.reviewed_at) == (
        "new",
        "still uploading?",
        None,
        None,
    )
    (event,) = detail(batches, 4).events
    assert (event.actor, event.from_status, event.to_status, event.note) == (
        "bob",
        "new",
        "new",
        "still uploading?",
    )
    with batches.store.write() as conn, pytest.raises(UsageError):
        add_note(conn, 4, note="  ", actor="bob", now=paris("2026-11-21T14:00"), zone=PARIS)
    assert events(batches) == 1


def test_review_queue_moves_through_batches_to_review(batches: World) -> None:
    with batches.store.read() as conn:
        queue = review_queue(conn, 3)
        assert (queue.previous, queue.next, queue.pending) == (4, 2, 4)
        top = review_queue(conn, 4)
        assert (top.previous, top.next) == (None, 3)
        settled = review_queue(conn, 3, status="settled")
        assert (settled.previous, settled.next, settled.pending) == (None, 2, 3)
    with batches.store.write() as conn:
        review(conn, 2, status="reviewed", actor="ana", now=paris("2026-11-21T15:00"), zone=PARIS)
    with batches.store.read() as conn:
        queue = review_queue(conn, 3)
        assert (queue.previous, queue.next, queue.pending) == (4, 1, 3)
        # From a batch already reviewed, the queue goes on around it.
        around = review_queue(conn, 2)
        assert (around.previous, around.next) == (3, 1)
        assert detail(batches, 3).queue == queue
