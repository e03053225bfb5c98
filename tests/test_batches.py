"""Batches: grouping by folder, settling after a quiet window with stable sizes, reviews."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitor.batches import batch_folder, review_batch
from monitor.errors import MonitorError
from monitor.store import Store
from monitor.store import queries as q
from tests.helpers import Clock, make_target, poll, put


@pytest.mark.parametrize(
    ("path", "depth", "folder"),
    [
        ("ep02/sc901/a.exr", 1, "ep02"),
        ("ep02/sc901/a.exr", 2, "ep02/sc901"),
        ("ep02/a.exr", 2, "ep02"),
        ("root.txt", 1, ""),
        ("a/b/c/d", 0, ""),
    ],
)
def test_batch_folder(path: str, depth: int, folder: str) -> None:
    assert batch_folder(path, depth) == folder


def batches(store: Store) -> dict[str, tuple[str, int, int]]:
    with store.read() as conn:
        return {b.folder: (b.status, b.files, b.total_bytes) for b in q.list_batches(conn)}


def test_grouping_by_top_folder(store: Store, drop: Path, clock: Clock) -> None:
    poll(store, make_target(drop), clock)  # the baseline: an empty folder
    put(drop, "ep01/sc1/a.exr", b"aa")
    put(drop, "ep01/sc2/b.exr", b"bbb")
    put(drop, "ep02/c.exr", b"c")
    put(drop, "readme.txt", b"rrrr")
    result = poll(store, make_target(drop), clock)
    assert len(result.batches) == 3
    assert batches(store) == {"": ("open", 1, 4), "ep01": ("open", 2, 5), "ep02": ("open", 1, 1)}


def test_grouping_depth_two(store: Store, drop: Path, clock: Clock) -> None:
    poll(store, make_target(drop, batch_depth=2), clock)  # the baseline: an empty folder
    put(drop, "ep01/sc1/a.exr")
    put(drop, "ep01/sc2/b.exr")
    put(drop, "ep01/top.exr")
    poll(store, make_target(drop, batch_depth=2), clock)
    assert set(batches(store)) == {"ep01/sc1", "ep01/sc2", "ep01"}


def test_settles_after_quiet_window_with_stable_sizes(
    store: Store, drop: Path, clock: Clock
) -> None:
    poll(store, make_target(drop, settle="1h"), clock)  # the baseline: an empty folder
    target = make_target(drop, settle="1h")
    put(drop, "ep01/a.exr", b"1")
    poll(store, target, clock)  # T0: the batch opens
    grown = put(drop, "ep01/a.exr", b"12", mtime=1_700_000_500)
    r = poll(store, target, clock)  # T0+30m: the file grew: still open, newest version
    assert (r.modified, r.settled) == (1, [])
    assert batches(store) == {"ep01": ("open", 1, 2)}
    r = poll(store, target, clock)  # T0+60m: quiet for 30 min only
    assert r.settled == []
    r = poll(store, target, clock)  # T0+90m: quiet for an hour, size stable across polls
    assert len(r.settled) == 1
    assert batches(store) == {"ep01": ("settled", 1, 2)}
    with store.read() as conn:
        (batch,) = q.list_batches(conn)
        files = q.batch_files(conn, batch.id or 0)
        assert batch.settled_at == clock.now - timedelta(minutes=30)
    assert [(f.path, f.change, v.size) for f, v in files] == [("ep01/a.exr", "added", 2)]
    assert grown.exists()


def test_quiet_but_unseen_file_keeps_batch_open(store: Store, drop: Path, clock: Clock) -> None:
    poll(store, make_target(drop, settle="1h"), clock)  # the baseline: an empty folder
    target = make_target(drop, settle="1h")
    put(drop, "ep01/a.exr")
    poll(store, target, clock)
    clock.advance(hours=5)  # long quiet gap, then a new file arrives in the same folder
    put(drop, "ep01/b.exr")
    r = poll(store, target, clock)
    # a.exr is stable and quiet, but the batch just changed (b.exr): not settled.
    assert r.settled == []
    assert batches(store) == {"ep01": ("open", 2, 2)}


def test_new_batch_after_settle(store: Store, drop: Path, clock: Clock) -> None:
    poll(store, make_target(drop, settle="30m"), clock)  # the baseline: an empty folder
    target = make_target(drop, settle="30m")
    put(drop, "ep01/a.exr")
    poll(store, target, clock)
    poll(store, target, clock)  # quiet 30 min and seen twice: settled
    put(drop, "ep01/late.exr")
    poll(store, target, clock)
    with store.read() as conn:
        found = [(b.folder, b.status, b.files) for b in q.list_batches(conn)]
    assert found == [("ep01", "open", 1), ("ep01", "settled", 1)]


def test_removed_and_moved_files_do_not_open_batches(
    store: Store, drop: Path, clock: Clock
) -> None:
    target = make_target(drop)
    poll(store, target, clock)  # the baseline
    put(drop, "keep/a.exr", b"aaa", mtime=1_600_000_000)
    put(drop, "keep/b.exr", b"b")
    put(drop, "keep/c.exr", b"c")
    first = poll(store, target, clock)
    assert len(first.batches) == 1
    (drop / "keep/a.exr").rename(drop / "keep/renamed.exr")
    (drop / "keep/b.exr").unlink()
    r = poll(store, target, clock)
    assert (r.moved, r.removed, r.batches) == (1, 1, [])
    assert batches(store) == {"keep": ("open", 3, 5)}


def test_review_trail(store: Store, drop: Path, clock: Clock) -> None:
    poll(store, make_target(drop), clock)  # the baseline: an empty folder
    put(drop, "ep01/a.exr")
    poll(store, make_target(drop), clock)
    with store.write() as conn:
        review_batch(conn, batch_id=1, status="flagged", actor="ana", now=clock(), note="odd")
        review_batch(conn, batch_id=1, status="reviewed", actor="bo", now=clock())
        with pytest.raises(MonitorError, match="unknown review status 'done'"):
            review_batch(conn, batch_id=1, status="done", actor="bo", now=clock())
    with store.read() as conn:
        batch = q.get_batch(conn, 1)
        events = q.review_events(conn, 1)
    assert (batch.review, batch.reviewed_by, batch.note) == ("reviewed", "bo", "odd")
    assert [(e.actor, e.from_status, e.to_status, e.note) for e in events] == [
        ("ana", "new", "flagged", "odd"),
        ("bo", "flagged", "reviewed", None),
    ]


def test_first_poll_is_a_baseline(store: Store, drop: Path, clock: Clock) -> None:
    put(drop, "ep01/was-there.exr")
    first = poll(store, make_target(drop), clock)
    assert (first.added, first.batches) == (2, [])
    put(drop, "ep01/arrived.exr")
    second = poll(store, make_target(drop), clock)
    assert len(second.batches) == 1
    assert batches(store) == {"ep01": ("open", 1, 1)}


def test_no_settling_while_the_batch_folder_fails_to_list(store: Store, clock: Clock) -> None:
    from monitor.poll import record_poll
    from monitor.sources.base import Entry, FolderFailure, Listing

    with store.write() as conn:
        q.register_targets(conn, [("drop", "local")], clock())
    target = make_target(Path("/x"), settle="1h")
    record_poll(store, target, Listing([Entry("ep01", "dir")]), started=clock(), now=clock())
    clock.advance(minutes=30)
    arrived = Listing([Entry("ep01", "dir"), Entry("ep01/a.bin", "file", 1, 1)])
    record_poll(store, target, arrived, started=clock(), now=clock())
    clock.advance(hours=2)
    blind = Listing([Entry("ep01", "dir")], failed_folders=[FolderFailure("ep01", "denied")])
    r = record_poll(store, target, blind, started=clock(), now=clock())
    assert (r.status, r.settled) == ("partial", [])
    clock.advance(minutes=30)
    r = record_poll(store, target, arrived, started=clock(), now=clock())
    assert len(r.settled) == 1
