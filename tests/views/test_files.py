"""A path's history: every version, when it was seen, its batch and its archived body."""

from __future__ import annotations

from datetime import datetime

import pytest

from monitor.errors import NotFound
from monitor.views.files import FileHistory, file_history
from tests.helpers import put
from tests.views.conftest import BAD_BYTES, CRLF, HOSTILE, PARIS, World, four_days


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def history(world: World, path: str) -> FileHistory:
    with world.store.read() as conn:
        return file_history(conn, world.settings, "drop", path, zone=PARIS)


def test_versions_as_the_cli_lists_them(world: World) -> None:
    four_days(world)
    grow = history(world, "grow.txt")
    assert (grow.present, grow.url) == (True, (world.drop / "grow.txt").as_uri())
    cli = world.cli.json("history", "drop", "grow.txt")
    assert [
        (v.first_snapshot, v.gone_snapshot, v.size, v.first_seen.isoformat(), _iso(v.mtime))
        for v in grow.versions
    ] == [(r["first_snapshot"], r["gone_snapshot"], r["size"], r["seen"], r["mtime"]) for r in cli]
    old, new = grow.versions
    assert (old.last_seen_snapshot, new.last_seen_snapshot) == (2, 6)
    assert old.gone_at is not None and old.gone_at.isoformat() == "2026-11-21T09:00:00+01:00"
    assert old.last_seen is not None and old.last_seen.isoformat() == "2026-11-20T15:00:00+01:00"
    assert (new.gone_snapshot, new.gone_at) == (None, None)
    assert old.batch is None  # the baseline did not arrive
    assert new.batch is not None
    assert (new.batch.folder, new.batch.change, new.batch.review) == ("", "modified", "new")
    assert not new.archive.archived and new.archive.status is None
    gone = history(world, "gone.txt")
    assert gone.present is False and gone.versions[0].gone_snapshot == 3


def test_hostile_paths(world: World) -> None:
    four_days(world)
    for path in (HOSTILE, CRLF, BAD_BYTES):
        found = history(world, path)
        assert found.path == path and found.present
        (version,) = found.versions
        assert version.batch is not None and version.batch.change == "added"
    with pytest.raises(NotFound, match="never seen"):
        history(world, "ep03/bad\\xff.txt")  # the escaped form is another name


def test_a_version_replaced_inside_its_open_batch_keeps_the_batch(world: World) -> None:
    put(world.drop, "root.txt")
    world.poll("2026-11-20T10:00")
    put(world.drop, "ep01/f.txt", b"one", mtime=1_700_000_001)
    world.poll("2026-11-20T11:00")
    put(world.drop, "ep01/f.txt", b"one two", mtime=1_700_000_002)
    world.poll("2026-11-20T11:30")
    first, second = history(world, "ep01/f.txt").versions
    assert first.batch is not None and second.batch is not None
    assert (first.batch.id, first.batch.change) == (second.batch.id, "added")
    assert (first.last_seen_snapshot, second.last_seen_snapshot) == (2, 3)
