"""A target's page: changes per day over a range, snapshots paged newest first."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from monitor.errors import NotFound, UsageError
from monitor.views.targets import TargetPage, target_page
from tests.helpers import Clock, put
from tests.views.conftest import PARIS, World, four_days, make_world, paris


def page(
    world: World, name: str = "drop", now: str = "2026-11-24T14:00", **kw: object
) -> TargetPage:
    with world.store.read() as conn:
        return target_page(conn, world.settings, name, now=paris(now), zone=PARIS, **kw)  # type: ignore[arg-type]


def test_days_and_snapshots(world: World) -> None:
    four_days(world)
    view = page(world, start=date(2026, 11, 20), end=date(2026, 11, 24), limit=4)
    assert (view.name, view.kind, view.configured, view.health.state) == (
        "drop",
        "local",
        True,
        "ok",
    )
    assert view.root == world.drop.as_uri()
    for day in view.days:
        summary = world.cli.json("diff", "drop", "--day", day.day.isoformat())["summary"]
        assert day.model_dump(include=set(summary)) == summary
    assert [d.files_added for d in view.days] == [7, 5, 1, 0, 0]
    snaps = view.snapshots
    assert (snaps.total, snaps.offset, snaps.limit) == (6, 0, 4)
    assert [s.id for s in snaps.items] == [6, 5, 4, 3]
    cli = {s["snapshot"]: s for s in world.cli.json("snapshots", "drop")}
    for s in snaps.items:
        assert (s.status, s.files, s.bytes, s.added, s.removed) == (
            cli[s.id]["status"], cli[s.id]["files"], cli[s.id]["bytes"],
            cli[s.id]["added"], cli[s.id]["removed"],
        )  # fmt: skip
    third = snaps.items[3]
    assert (third.added, third.removed, third.modified, third.moved) == (6, 1, 1, 1)
    assert third.started_at.isoformat() == "2026-11-21T09:00:00+01:00"
    assert (third.failed_folders, third.error, third.applied, third.held) == ([], None, True, False)
    rest = page(world, offset=4, limit=4).snapshots
    assert [s.id for s in rest.items] == [2, 1] and rest.total == 6
    # The default range: the 30 days up to today.
    default = page(world)
    assert (default.start, default.end, len(default.days)) == (
        date(2026, 10, 26),
        date(2026, 11, 24),
        30,
    )
    assert default.versions == 20


def test_failures_on_the_page(tmp_path: Path, db_url: str, drop: Path, clock: Clock) -> None:
    capped = tmp_path / "capped"
    put(capped, "a.txt")
    put(capped, "b.txt")
    world = make_world(
        tmp_path, db_url, drop, clock,
        f'[[target]]\nname = "capped"\nkind = "local"\npath = "{capped}"\nmax_entries = 1\n',
    )  # fmt: skip
    try:
        world.poll("2026-11-20T10:00", target="capped")
        drop.rmdir()
        world.poll("2026-11-20T11:00")
        (partial,) = page(world, "capped").snapshots.items
        assert partial.status == "partial"
        assert [(f.path, f.reason) for f in partial.failed_folders] == [
            ("", "more than 1 entries; raise max_entries")
        ]
        assert (partial.skipped, partial.files) == (1, 1)
        (failed,) = page(world).snapshots.items
        assert (failed.status, failed.applied, failed.info) == ("failed", False, {})
        assert failed.error is not None and "no such folder" in failed.error
        with pytest.raises(NotFound):
            page(world, "nope")
        with pytest.raises(UsageError):
            page(world, limit=0)
    finally:
        world.store.close()
