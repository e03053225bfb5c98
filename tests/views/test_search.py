"""Search over every path ever seen: substrings with LIKE's wildcards taken literally."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import NotFound, UsageError
from monitor.views.search import SearchResult, like_pattern, search_paths
from tests.helpers import Clock, put
from tests.views.conftest import BACKSLASH, BAD_BYTES, HOSTILE, PARIS, World, four_days, make_world


def search(world: World, words: str, **kw: object) -> SearchResult:
    with world.store.read() as conn:
        return search_paths(conn, words, zone=PARIS, **kw)  # type: ignore[arg-type]


def found(world: World, words: str, **kw: object) -> list[str]:
    return [h.path for h in search(world, words, **kw).hits]


def test_wildcards_in_the_words_match_themselves(world: World) -> None:
    put(world.drop, "ep05/50Xaoff.txt", mtime=1_600_000_001)  # 50%_off if % and _ were wildcards
    put(world.drop, "ep05/a_b.txt", mtime=1_600_000_002)
    put(world.drop, "ep05/axb.txt", mtime=1_600_000_003)
    put(world.drop, "ep05/wow!.txt", mtime=1_600_000_004)
    put(world.drop, "ep05/wo.txt", mtime=1_600_000_005)
    four_days(world)
    assert found(world, "50%_off") == ["ep02/50%_off.txt"]
    assert found(world, "a_b") == ["ep05/a_b.txt"]
    assert found(world, "%") == ["ep02/50%_off.txt"]
    assert found(world, "w!") == ["ep05/wow!.txt"]
    assert found(world, "!.") == ["ep05/wow!.txt"]
    assert found(world, "k\\s") == [BACKSLASH]
    assert found(world, "<img src") == [HOSTILE]
    assert found(world, "bad") == [BAD_BYTES]
    assert found(world, "X.png") == ["ep03/deep/x.PNG"]  # case-insensitive
    assert like_pattern("a%b_c!d\\e") == "%a!%b!_c!!d\\\\e%"


def test_hits_say_first_seen_gone_and_versions(world: World) -> None:
    four_days(world)
    result = search(world, ".txt")
    hits = {h.path: h for h in result.hits}
    grow, gone, removed = hits["grow.txt"], hits["gone.txt"], hits["ep02/50%_off.txt"]
    assert (grow.versions, grow.present, grow.size, grow.type) == (2, True, 4, "file")
    assert grow.first_seen.isoformat() == "2026-11-20T10:00:00+01:00"
    assert (grow.gone_snapshot, grow.gone_at) == (None, None)
    assert (gone.present, gone.gone_snapshot, gone.versions) == (False, 3, 1)
    assert gone.gone_at is not None and gone.gone_at.isoformat() == "2026-11-21T09:00:00+01:00"
    assert (removed.present, removed.gone_snapshot, removed.first_snapshot) == (False, 6, 2)
    moved = search(world, "old.bin").hits[0]
    assert (moved.present, moved.target, moved.type) == (False, "drop", "file")
    folder = search(world, "ep03/deep").hits
    assert [(h.path, h.type, h.size) for h in folder] == [
        ("ep03/deep", "dir", None), ("ep03/deep/x.PNG", "file", 2000)
    ]  # fmt: skip


def test_paging_cap_and_order(world: World) -> None:
    four_days(world)
    every = found(world, "", limit=100)
    assert len(every) == 19 == search(world, "").total
    assert every == sorted(every)
    first = search(world, "ep0", limit=3)
    second = search(world, "ep0", limit=3, offset=3)
    assert (first.total, first.capped) == (second.total, False) == (16, False)
    assert [h.path for h in first.hits + second.hits] == found(world, "ep0", limit=6)
    capped = search(world, "ep0", cap=5, limit=2)
    assert (capped.total, capped.capped, len(capped.hits)) == (5, True, 2)
    with pytest.raises(UsageError):
        search(world, "x", limit=0)


def test_one_target_or_all(tmp_path: Path, db_url: str, drop: Path, clock: Clock) -> None:
    other = tmp_path / "other"
    put(other, "shared.txt", b"o")
    put(drop, "shared.txt", b"d")
    world = make_world(
        tmp_path, db_url, drop, clock,
        f'[[target]]\nname = "other"\nkind = "local"\npath = "{other}"\n',
    )  # fmt: skip
    try:
        world.poll("2026-11-20T10:00")
        world.poll("2026-11-20T10:00", target="other")
        both = search(world, "shared")
        assert [(h.target, h.path) for h in both.hits] == [
            ("drop", "shared.txt"), ("other", "shared.txt")
        ]  # fmt: skip
        assert [h.target for h in search(world, "shared", target="other").hits] == ["other"]
        with pytest.raises(NotFound):
            search(world, "shared", target="nope")
    finally:
        world.store.close()
