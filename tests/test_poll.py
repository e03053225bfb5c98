"""Polls, snapshots, versions and diffs on real folders and real databases."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from monitor.errors import MonitorError
from monitor.poll import accept_snapshot, record_poll
from monitor.report import compute_diff
from monitor.sources.base import Entry, FolderFailure, Listing
from monitor.store import Store
from monitor.store import queries as q
from tests.helpers import Clock, make_target, poll, put


def version_count(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(q.version_t)).scalar_one())


def state(store: Store, snapshot: int) -> dict[str, tuple[str, int | None, int | None]]:
    with store.read() as conn:
        return {v.path: (v.type, v.size, v.mtime_ns) for v in q.state_at(conn, 1, snapshot)}


def test_first_poll_records_exact_inventory(store: Store, drop: Path, clock: Clock) -> None:
    put(drop, "ep01/a.bin", b"abc")
    put(drop, "top.txt", b"hello")
    (drop / "empty").mkdir()
    result = poll(store, make_target(drop), clock)
    assert (result.status, result.files, result.dirs, result.total_bytes) == ("complete", 2, 2, 8)
    assert result.added == 4
    assert state(store, result.snapshot_id) == {
        "empty": ("dir", None, None),
        "ep01": ("dir", None, None),
        "ep01/a.bin": ("file", 3, 1_700_000_000_123_456_789),
        "top.txt": ("file", 5, 1_700_000_000_123_456_789),
    }


def test_unchanged_poll_writes_no_versions(store: Store, drop: Path, clock: Clock) -> None:
    for i in range(50):
        put(drop, f"f{i % 5}/file{i}.dat", b"y" * i)
    target = make_target(drop)
    first = poll(store, target, clock)
    rows = version_count(store)
    for _ in range(3):
        again = poll(store, target, clock)
        assert (again.status, again.added, again.removed, again.modified) == ("complete", 0, 0, 0)
        assert again.files == first.files == 50
    assert version_count(store) == rows == 55


def test_changes_and_diff_between_any_two_snapshots(store: Store, drop: Path, clock: Clock) -> None:
    put(drop, "a/keep.txt", b"same")
    put(drop, "a/grow.txt", b"1")
    put(drop, "a/gone.txt", b"bye")
    put(drop, "a/old-name.bin", b"moving", mtime=1_600_000_000)
    target = make_target(drop)
    s1 = poll(store, target, clock).snapshot_id

    put(drop, "a/grow.txt", b"12345", mtime=1_700_000_100)
    (drop / "a/gone.txt").unlink()
    (drop / "a/old-name.bin").rename(drop / "a/new-name.bin")
    put(drop, "b/fresh.txt", b"new!")
    r2 = poll(store, target, clock)
    assert (r2.added, r2.removed, r2.modified, r2.moved) == (2, 1, 1, 1)

    with store.read() as conn:
        snaps = {s.id: s for s in q.list_snapshots(conn, 1)}
        d = compute_diff(conn, 1, snaps[s1], snaps[r2.snapshot_id])
        back = compute_diff(conn, 1, snaps[r2.snapshot_id], snaps[s1])
        from_nothing = compute_diff(conn, 1, None, snaps[s1])
    assert sorted(v.path for v in d.added) == ["b", "b/fresh.txt"]
    assert [v.path for v in d.removed] == ["a/gone.txt"]
    assert [(o.size, n.size) for o, n in d.modified] == [(1, 5)]
    assert [(o.path, n.path) for o, n in d.moved] == [("a/old-name.bin", "a/new-name.bin")]
    assert [v.path for v in back.removed] == sorted(v.path for v in d.added)
    assert [v.path for v in back.added] == ["a/gone.txt"]
    assert len(from_nothing.added) == 5 and not from_nothing.removed


def test_vanished_root_gives_failed_snapshot_and_keeps_state(
    store: Store, drop: Path, clock: Clock, tmp_path: Path
) -> None:
    put(drop, "x/one.txt")
    target = make_target(drop)
    first = poll(store, target, clock)
    drop.rename(tmp_path / "elsewhere")
    failed = poll(store, target, clock)
    assert failed.status == "failed"
    assert failed.error is not None and str(drop) in failed.error
    with store.read() as conn:
        assert q.current_versions(conn, 1).keys() == {"x", "x/one.txt"}
        snap = q.get_snapshot(conn, failed.snapshot_id)
        assert (snap.removed, snap.applied) == (0, False)
    (tmp_path / "elsewhere").rename(drop)
    back = poll(store, target, clock)
    assert (back.status, back.removed, back.added) == ("complete", 0, 0)
    assert state(store, failed.snapshot_id) == state(store, first.snapshot_id)


def test_failed_folder_carries_its_entries_forward(store: Store, clock: Clock) -> None:
    target = make_target(Path("/nonexistent"))
    with store.write() as conn:
        q.register_targets(conn, [("drop", "local")], clock())
    full = Listing(
        [
            Entry("a", "dir"),
            Entry("a/1", "file", 1, 5),
            Entry("b", "dir"),
            Entry("b/2", "file", 2, 5),
            Entry("b/c/3", "file", 3, 5),
        ]
    )
    record_poll(store, target, full, started=clock(), now=clock())
    partial = Listing(
        [Entry("a", "dir"), Entry("b", "dir"), Entry("z", "file", 9, 9)],
        failed_folders=[FolderFailure("b", "permission denied")],
    )
    result = record_poll(store, target, partial, started=clock(), now=clock())
    assert result.status == "partial"
    assert (result.added, result.removed) == (1, 1)  # z added, a/1 removed; b/* carried
    with store.read() as conn:
        assert set(q.current_versions(conn, 1)) == {"a", "b", "b/2", "b/c/3", "z"}
        snap = q.get_snapshot(conn, result.snapshot_id)
    assert q.failed_folders(snap) == [{"path": "b", "reason": "permission denied"}]


def test_suspect_listing_is_held_until_confirmed(store: Store, drop: Path, clock: Clock) -> None:
    for i in range(10):
        put(drop, f"d/f{i}.txt")
    target = make_target(drop, suspect_min_removed=1)
    poll(store, target, clock)
    for i in range(6):
        (drop / f"d/f{i}.txt").unlink()
    held = poll(store, target, clock)
    assert held.status == "suspect" and held.removed == 6
    assert held.error is not None and "6 of 10 files vanished" in held.error
    with store.read() as conn:
        assert len([v for v in q.current_versions(conn, 1).values() if v.type == "file"]) == 10
    confirming = poll(store, target, clock)
    assert (confirming.status, confirming.removed, confirming.confirmed) == (
        "complete",
        6,
        held.snapshot_id,
    )
    with store.read() as conn:
        assert len([v for v in q.current_versions(conn, 1).values() if v.type == "file"]) == 4
        assert q.get_snapshot(conn, held.snapshot_id).accepted_by == "confirmed by a later poll"


def test_suspect_superseded_by_a_normal_poll(store: Store, drop: Path, clock: Clock) -> None:
    for i in range(4):
        put(drop, f"f{i}")
    target = make_target(drop, suspect_min_removed=1)
    poll(store, target, clock)
    hidden = drop.parent / "hidden"
    hidden.mkdir()
    for i in range(3):
        (drop / f"f{i}").rename(hidden / f"f{i}")
    held = poll(store, target, clock)
    for i in range(3):
        (hidden / f"f{i}").rename(drop / f"f{i}")
    normal = poll(store, target, clock)
    assert (held.status, normal.status, normal.removed, normal.confirmed) == (
        "suspect",
        "complete",
        0,
        None,
    )
    with pytest.raises(MonitorError, match="superseded"):
        accept_snapshot(store, held.snapshot_id, target, actor="ana", now=clock())


def test_accepting_a_suspect_snapshot_applies_it(store: Store, drop: Path, clock: Clock) -> None:
    for i in range(4):
        put(drop, f"f{i}")
    target = make_target(drop, suspect_min_removed=1)
    poll(store, target, clock)
    for i in range(3):
        (drop / f"f{i}").unlink()
    held = poll(store, target, clock)
    result = accept_snapshot(store, held.snapshot_id, target, actor="ana", now=clock())
    assert result.removed == 3
    with store.read() as conn:
        snap = q.get_snapshot(conn, held.snapshot_id)
        assert (snap.applied, snap.accepted_by, snap.removed) == (True, "ana", 3)
        assert set(q.current_versions(conn, 1)) == {"f3"}
    assert set(state(store, held.snapshot_id)) == {"f3"}
    assert len(state(store, held.snapshot_id - 1)) == 4


def test_move_pairs_only_unique_size_and_mtime(store: Store, drop: Path, clock: Clock) -> None:
    put(drop, "a/twin1", b"11", mtime=1_650_000_000)
    put(drop, "a/twin2", b"22", mtime=1_650_000_000)
    put(drop, "a/solo", b"333", mtime=1_650_000_000)
    put(drop, "keep1")
    put(drop, "keep2", b"kk")
    put(drop, "keep3", b"kkk", mtime=1)
    target = make_target(drop)
    poll(store, target, clock)
    (drop / "a").rename(drop / "b")
    r = poll(store, target, clock)
    # twin1/twin2 share size+mtime, so they cannot be paired: they are removed and added.
    assert r.moved == 1
    with store.read() as conn:
        snaps = q.list_snapshots(conn, 1)
        d = compute_diff(conn, 1, snaps[1], snaps[0])
    assert [(o.path, n.path) for o, n in d.moved] == [("a/solo", "b/solo")]
    assert sorted(v.path for v in d.removed) == ["a", "a/twin1", "a/twin2"]


def test_hostile_names_are_stored_exactly(store: Store, drop: Path, clock: Clock) -> None:
    names = [
        "new\nline.txt",
        "tab\tand\x07bell",
        "<img src=x onerror=alert(1)>.png",
        "한국어 파일.txt",
        "日本語.bin",
        "back\\slash",
        "percent%41",
        "x" * 251 + ".bin",
    ]
    for name in names:
        put(drop, name)
    raw = os.fsencode(drop) + b"/bad\xff\xfe.bin"
    with open(raw, "wb") as fh:
        fh.write(b"bytes")
    result = poll(store, make_target(drop), clock)
    stored = state(store, result.snapshot_id)
    assert set(stored) == {*names, os.fsdecode(b"bad\xff\xfe.bin")}
    assert os.fsencode(next(p for p in stored if p.startswith("bad"))) == b"bad\xff\xfe.bin"
    again = poll(store, make_target(drop), clock)
    assert (again.added, again.removed, again.modified) == (0, 0, 0)


def test_versions_open_once_per_path(store: Store, drop: Path, clock: Clock) -> None:
    target = make_target(drop)
    path = put(drop, "f", b"1")
    for size in range(2, 6):
        path.write_bytes(b"1" * size)
        poll(store, target, clock)
    with store.read() as conn:
        spans = q.history(conn, 1, "f")
    assert [s.version.size for s in spans] == [2, 3, 4, 5]
    assert [s.gone_at is None for s in spans] == [False, False, False, True]
    assert all(a.gone_at == b.seen_at for a, b in itertools.pairwise(spans))


def test_small_losses_are_not_suspect(store: Store, drop: Path, clock: Clock) -> None:
    for i in range(3):
        put(drop, f"f{i}")
    target = make_target(drop)  # suspect_min_removed defaults to 10
    poll(store, target, clock)
    for i in range(3):
        (drop / f"f{i}").unlink()
    emptied = poll(store, target, clock)
    assert (emptied.status, emptied.removed, emptied.files) == ("complete", 3, 0)


def test_a_repeated_path_in_a_listing_counts_once(store: Store, clock: Clock) -> None:
    with store.write() as conn:
        q.register_targets(conn, [("drop", "local")], clock())
    twice = Listing([Entry("a", "file", 1, 1), Entry("a", "file", 2, 2)])
    result = record_poll(store, make_target(Path("/x")), twice, started=clock(), now=clock())
    assert (result.added, result.files) == (1, 1)
    assert state(store, result.snapshot_id) == {"a": ("file", 1, 1)}


def test_far_future_mtime_is_clamped_not_fatal(store: Store, drop: Path, clock: Clock) -> None:
    hostile = put(drop, "from-2300.bin")
    os.utime(hostile, ns=(0, 10_413_792_000 * 10**9))  # year 2300: beyond int64 nanoseconds
    target = make_target(drop)
    first = poll(store, target, clock)
    again = poll(store, target, clock)
    assert (first.status, first.files, again.modified) == ("complete", 1, 0)
    assert state(store, first.snapshot_id)["from-2300.bin"][2] == 2**63 - 1


def test_very_long_path_is_stored(store: Store, clock: Clock) -> None:
    with store.write() as conn:
        q.register_targets(conn, [("drop", "local")], clock())
    deep = "/".join(["d" * 200] * 17) + "/" + "f" * 250  # about 3.7 KB
    listing = Listing([Entry(deep, "file", 1, 1)])
    target = make_target(Path("/x"))
    first = record_poll(store, target, listing, started=clock(), now=clock())
    clock.advance(minutes=1)
    again = record_poll(store, target, listing, started=clock(), now=clock())
    assert (first.added, again.added, again.modified) == (1, 0, 0)
    with store.read() as conn:
        assert [s.version.path for s in q.history(conn, 1, deep)] == [deep]


def test_suspect_is_confirmed_only_by_the_same_loss(store: Store, drop: Path, clock: Clock) -> None:
    for i in range(20):
        put(drop, f"f{i:02d}")
    target = make_target(drop, suspect_min_removed=1)
    poll(store, target, clock)
    away = drop.parent / "away"
    away.mkdir()
    for i in range(15):
        (drop / f"f{i:02d}").rename(away / f"f{i:02d}")
    first = poll(store, target, clock)
    for i in range(15):
        (away / f"f{i:02d}").rename(drop / f"f{i:02d}")
    for i in range(5, 20):
        (drop / f"f{i:02d}").rename(away / f"f{i:02d}")
    other = poll(store, target, clock)  # suspect again, but a different loss: held too
    assert (first.status, other.status, other.confirmed) == ("suspect", "suspect", None)
    same = poll(store, target, clock)  # the same loss again: confirmed
    assert (same.status, same.removed, same.confirmed) == ("complete", 15, other.snapshot_id)
    with store.read() as conn:
        superseded = q.get_snapshot(conn, first.snapshot_id)
    assert superseded.error is not None and "superseded" in superseded.error


def test_held_snapshot_records_the_state_it_saw(store: Store, drop: Path, clock: Clock) -> None:
    for i in range(4):
        put(drop, f"f{i}", b"abc")
    target = make_target(drop, suspect_min_removed=1)
    poll(store, target, clock)
    for i in range(3):
        (drop / f"f{i}").unlink()
    held = poll(store, target, clock)
    assert (held.status, held.files, held.total_bytes) == ("suspect", 1, 3)


def test_an_older_listing_recorded_late_is_not_applied(
    store: Store, drop: Path, clock: Clock
) -> None:
    put(drop, "a")
    target = make_target(drop)
    early = clock()
    clock.advance(minutes=5)
    poll(store, target, clock)  # a poll that started later finished first
    late = record_poll(store, target, Listing([]), started=early, now=clock())
    assert late.status == "failed" and late.error is not None and "older" in late.error
    with store.read() as conn:
        assert set(q.current_versions(conn, 1)) == {"a"}


def test_only_paths_under_a_failed_folder_are_carried() -> None:
    from monitor.diff import compare
    from monitor.store.queries import StoredVersion

    def v(i: int, path: str) -> StoredVersion:
        return StoredVersion(i, path, "file", 1, 1, None, None, 1, None)

    current = {p: v(i, p) for i, p in enumerate(["b/1", "b/c/2", "ba/3", "x/b/4", "b"])}
    listing = Listing([], failed_folders=[FolderFailure("b", "denied")])
    changes = compare(current, listing)
    assert sorted(r.path for r in changes.removed) == ["ba/3", "x/b/4"]
    assert changes.carried == 3  # b itself, b/1 and b/c/2
