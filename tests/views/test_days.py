"""The day diff: the CLI's diff, filters, totals, caps and the folder tree."""

from __future__ import annotations

import json
import os
from datetime import date
from typing import Any

import pytest

from monitor.errors import NotFound, UsageError
from monitor.views import json_text
from monitor.views.days import DayDiff, DayFilters, FolderNode, day_diff
from tests.views.conftest import BACKSLASH, BAD_BYTES, CRLF, HOSTILE, PARIS, World, four_days

DAY = date(2026, 11, 21)


def diff(world: World, day: date = DAY, **kw: Any) -> DayDiff:
    with world.store.read() as conn:
        return day_diff(conn, world.settings, "drop", day, zone=PARIS, **kw)


def paths(entries: list[Any]) -> list[str]:
    return [e.path for e in entries]


def test_unfiltered_day_diff_is_the_cli_diff(world: World) -> None:
    four_days(world)
    for day in (date(2026, 11, 20), DAY, date(2026, 11, 22), date(2026, 11, 23)):
        view = diff(world, day)
        cli = world.cli.json("diff", "drop", "--day", day.isoformat())
        dumped = json.loads(json_text(view))
        assert {k: dumped[k] for k in cli} == cli
        assert view.total == view.summary
        assert view.more.model_dump() == dict.fromkeys(cli["summary"], 0)
    view = diff(world)
    assert (view.from_state.snapshot, view.to.snapshot) == (2, 4)
    assert view.start.isoformat() == "2026-11-21T00:00:00+01:00"
    assert view.end.isoformat() == "2026-11-22T00:00:00+01:00"
    assert json.loads(json_text(view))["from"]["at"] == "2026-11-20T15:00:00+01:00"


def test_hostile_names_round_trip_exactly(world: World) -> None:
    four_days(world)
    view = diff(world)
    added = paths(view.added)
    assert {CRLF, BAD_BYTES, BACKSLASH} <= set(added)
    assert os.fsencode(BAD_BYTES) == b"ep03/bad\xff.txt"
    back = json.loads(json_text(view))
    assert [e["path"] for e in back["added"]] == added
    hostile = diff(world, date(2026, 11, 20)).added
    assert HOSTILE in paths(hostile)
    # Not escaped for HTML: the templates do that.
    assert "<img src=x onerror=alert(1)>" in json_text(diff(world, date(2026, 11, 20)))


def test_filters_and_totals(world: World) -> None:
    four_days(world)
    total = diff(world).total
    only_added = diff(world, filters=DayFilters(kinds=["added", "moved"]))
    assert (only_added.summary.added, only_added.summary.removed) == (8, 0)
    assert (only_added.summary.moved, only_added.total) == (1, total)
    assert only_added.removed == [] and only_added.modified == []
    big = diff(world, filters=DayFilters(min_size=4))
    assert paths(big.added) == [BAD_BYTES, "ep03/deep/x.PNG", "ep04/late.txt"]
    assert [m.path for m in big.modified] == ["grow.txt"]
    assert [m.to for m in big.moved] == ["ep01/moved.bin"]
    assert big.summary.bytes_added == 2009
    png = diff(world, filters=DayFilters(types=["png", "TXT"]))
    assert set(paths(png.added)) == {"ep03/deep/x.PNG", CRLF, BAD_BYTES, BACKSLASH, "ep04/late.txt"}
    assert paths(png.removed) == ["gone.txt"]
    # A substring ignores case; a move matches by its old path too.
    assert [m.to for m in diff(world, filters=DayFilters(path="OLD.b")).moved] == ["ep01/moved.bin"]
    assert paths(diff(world, filters=DayFilters(path="x.png")).added) == ["ep03/deep/x.PNG"]
    # A glob: a name pattern matches in any folder; one with a slash is anchored.
    assert paths(diff(world, filters=DayFilters(path="*.txt")).added) == [
        BACKSLASH,
        BAD_BYTES,
        CRLF,
        "ep04/late.txt",
    ]
    under = diff(world, filters=DayFilters(path="ep03/**"))
    assert paths(under.added) == [
        "ep03/back\\slash.txt",
        BAD_BYTES,
        CRLF,
        "ep03/deep",
        "ep03/deep/x.PNG",
    ]
    folder = diff(world, filters=DayFilters(folder="ep03/"))
    assert folder.summary.added == 5 and folder.total == total
    with pytest.raises(UsageError):
        diff(world, filters=DayFilters(path="[z-a]*"))


def node(tree: FolderNode, path: str) -> FolderNode:
    for part in path.split("/") if path else []:
        tree = next(f for f in tree.folders if f.name == part)
    return tree


def test_folder_tree_counts_and_caps(world: World) -> None:
    four_days(world)
    view = diff(world)
    tree = view.tree
    s = view.summary
    assert (tree.added, tree.removed, tree.modified, tree.moved) == (
        s.added,
        s.removed,
        s.modified,
        s.moved,
    )
    assert tree.bytes == 2014 + 3 + 4 + 7  # added, removed (last size), modified, moved
    assert [f.name for f in tree.folders] == ["ep01", "ep03", "ep04"]
    ep03 = node(tree, "ep03")
    assert (ep03.added, ep03.bytes, ep03.path) == (5, 2009, "ep03")
    assert [c.entry.path for c in ep03.changes] == [BACKSLASH, BAD_BYTES, CRLF, "ep03/deep"]
    deep = node(tree, "ep03/deep")
    assert [(c.kind, c.entry.path, c.entry.size) for c in deep.changes] == [
        ("added", "ep03/deep/x.PNG", 2000)
    ]
    moved = node(tree, "ep01").changes
    assert [(c.kind, c.from_path, c.entry.path) for c in moved] == [
        ("moved", "ep01/old.bin", "ep01/moved.bin")
    ]
    root = [(c.kind, c.entry.path) for c in tree.changes]
    assert root == [
        ("added", "ep03"),
        ("added", "ep04"),
        ("removed", "gone.txt"),
        ("modified", "grow.txt"),
    ]
    grow = tree.changes[3]
    assert grow.before is not None and (grow.before.size, grow.entry.size) == (1, 4)
    assert json.loads(json_text(view))["tree"]["folders"][0]["changes"][0]["from"] == "ep01/old.bin"
    capped = diff(world, limit=2, tree_limit=3)
    assert paths(capped.added) == paths(view.added)[:2]
    assert capped.more.added == 6 and capped.more.removed == 0
    assert capped.more.bytes_added == view.summary.bytes_added - sum(
        e.size or 0 for e in capped.added if e.type == "file"
    )
    shown = _leaves(capped.tree)
    assert len(shown) == 3 and _more(capped.tree) == 8
    assert capped.tree.added == view.tree.added  # counts are never capped


def _leaves(tree: FolderNode) -> list[str]:
    return [c.entry.path for c in tree.changes] + [p for f in tree.folders for p in _leaves(f)]


def _more(tree: FolderNode) -> int:
    return tree.more + sum(_more(f) for f in tree.folders)


def test_unknown_target_and_target_never_polled(world: World) -> None:
    with world.store.read() as conn:
        with pytest.raises(NotFound):
            day_diff(conn, world.settings, "nope", DAY, zone=PARIS)
        empty = day_diff(conn, world.settings, "drop", DAY, zone=PARIS)
    assert empty.summary.added == 0 and empty.from_state.snapshot is None
    assert empty.tree.folders == [] and empty.tree.changes == []


def test_tree_depth_and_folder_caps(world: World) -> None:
    four_days(world)
    shallow = diff(world, tree_depth=1, tree_folders=2).tree
    assert [f.name for f in shallow.folders] == ["ep01", "ep03"]
    assert shallow.more_folders == 1  # ep04
    ep03 = node(shallow, "ep03")
    assert (ep03.folders, ep03.deeper, ep03.added) == ([], 1, 5)  # ep03/deep/x.PNG not shown
    assert [c.entry.path for c in ep03.changes] == [BACKSLASH, BAD_BYTES, CRLF, "ep03/deep"]
    # The folder cap keeps the folders nearest the root.
    budget = diff(world, tree_folders=3).tree
    assert [f.name for f in budget.folders] == ["ep01", "ep03", "ep04"]
    assert (node(budget, "ep03").folders, node(budget, "ep03").more_folders) == ([], 1)
    # Below a folder filter, the depth counts from that folder.
    inside = diff(world, tree_depth=1, filters=DayFilters(folder="ep03")).tree
    deep = node(inside, "ep03/deep")
    assert ([c.entry.path for c in deep.changes], deep.deeper) == (["ep03/deep/x.PNG"], 0)
    flat = diff(world, tree_depth=0).tree
    assert (flat.folders, flat.deeper, flat.added) == ([], 7, 8)
    assert [c.entry.path for c in flat.changes] == ["ep03", "ep04", "gone.txt", "grow.txt"]
