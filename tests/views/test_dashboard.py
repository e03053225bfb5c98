"""The dashboard: health as the alerts judge it, last poll, batches to review, arrivals."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

from monitor.store import queries as q
from monitor.views.daily import day_counts
from monitor.views.dashboard import Dashboard, dashboard
from tests.helpers import Clock, put
from tests.views.conftest import PARIS, World, four_days, make_world, paris


def board(world: World, now: str, days: int = 7) -> Dashboard:
    with world.store.read() as conn:
        return dashboard(conn, world.settings, now=paris(now), zone=PARIS, days=days)


def test_dashboard_cards_and_totals(world: World) -> None:
    four_days(world)
    put(world.drop, "ep05/fresh.txt", b"f" * 7, mtime=1_700_000_050)
    world.poll("2026-11-24T13:00")  # opens a batch that has not settled yet
    with world.store.write() as conn:
        q.register_targets(conn, [("retired", "http")], paris("2026-11-24T13:00"))
    view = board(world, "2026-11-24T14:00")
    assert [c.name for c in view.targets] == ["drop", "retired"]
    drop, retired = view.targets
    assert view.days == [date(2026, 11, d) for d in range(18, 25)]
    with world.store.read() as conn:
        counted = day_counts(conn, 1, date(2026, 11, 18), date(2026, 11, 24), PARIS)
    assert [(a.day, a.files, a.bytes) for a in drop.arrivals] == [
        (d.day, d.files_added, d.bytes_added) for d in counted
    ]
    assert [a.files for a in drop.arrivals] == [0, 0, 7, 5, 1, 0, 1]
    assert drop.arrivals[-1].bytes == 7
    new = world.cli.json("batches", "--review", "new")
    statuses = Counter(b["status"] for b in new)
    assert (drop.pending.open, drop.pending.settled) == (statuses["open"], statuses["settled"])
    assert (drop.pending.open, drop.pending.settled) == (1, 5)
    (cli_target,) = world.cli.json("targets")
    assert (drop.files, drop.bytes) == (cli_target["files"], cli_target["bytes"])
    assert drop.last_poll is not None
    assert (drop.last_poll.snapshot, drop.last_poll.status, drop.last_poll.files) == (
        7,
        "complete",
        drop.files,
    )
    assert drop.last_poll.started_at.isoformat() == "2026-11-24T13:00:00+01:00"
    assert (drop.health.state, drop.health.reasons, drop.configured) == ("ok", [], True)
    assert drop.health.last_arrival == paris("2026-11-24T13:00")
    assert (retired.configured, retired.kind, retired.enabled) == (False, "http", None)
    assert (retired.health.state, retired.last_poll, retired.files) == ("never_polled", None, None)
    assert [a.files for a in retired.arrivals] == [0] * 7
    totals = view.totals
    assert (totals.targets, totals.files, totals.bytes) == (2, drop.files, drop.bytes)
    assert (totals.pending.open, totals.pending.settled) == (1, 5)
    assert totals.health["ok"] == 1 and totals.health["never_polled"] == 1
    assert [a.files for a in totals.arrivals] == [a.files for a in drop.arrivals]


def test_health_states(tmp_path: Path, db_url: str, drop: Path, clock: Clock) -> None:
    capped = tmp_path / "capped"
    put(capped, "a.txt")
    put(capped, "b.txt")
    world = make_world(
        tmp_path, db_url, drop, clock,
        'down_after = 2\nstale_after = "2d"\n'
        f'[[target]]\nname = "capped"\nkind = "local"\npath = "{capped}"\nmax_entries = 1\n',
    )  # fmt: skip
    try:
        _walk_through_health(world)
    finally:
        world.store.close()


def _states(world: World, now: str) -> dict[str, str]:
    return {c.name: c.health.state for c in board(world, now, days=1).targets}


def _walk_through_health(world: World) -> None:
    assert _states(world, "2026-11-20T09:00") == {"drop": "never_polled", "capped": "never_polled"}
    put(world.drop, "a.txt", b"a", mtime=1_700_000_001)
    world.poll("2026-11-20T10:00")
    put(world.drop, "b.txt", b"b", mtime=1_700_000_002)
    world.poll("2026-11-20T11:00")
    world.poll("2026-11-20T11:30", target="capped")
    assert _states(world, "2026-11-20T11:45") == {"drop": "ok", "capped": "partial"}
    capped = board(world, "2026-11-20T11:45").targets[1].health
    assert capped.reasons == ["1 folder(s) failed to list"]
    away = world.drop.with_name("away")
    world.drop.rename(away)
    world.poll("2026-11-20T12:00")
    failing = board(world, "2026-11-20T12:10").targets[0].health
    assert (failing.state, failing.failures) == ("failing", 1)
    assert failing.failing_since is not None
    assert failing.failing_since.isoformat() == "2026-11-20T12:00:00+01:00"
    world.poll("2026-11-20T12:30")
    down = board(world, "2026-11-20T12:40").targets[0].health
    assert (down.state, down.failures) == ("down", 2)
    assert "no such folder" in down.reasons[0]
    away.rename(world.drop)
    world.poll("2026-11-20T13:00")
    # stale_after = 2d, counted from the last arrival (11:00 on the 20th), as the alert does.
    assert _states(world, "2026-11-22T10:59")["drop"] == "ok"
    stale = board(world, "2026-11-22T11:00").targets[0].health
    assert (stale.state, stale.reasons) == ("stale", ["no new file for 2d or more"])
    assert stale.last_arrival == paris("2026-11-20T11:00")
    (world.drop / "a.txt").unlink()
    (world.drop / "b.txt").unlink()
    world.poll("2026-11-22T12:00")  # every file gone at once: held as suspect
    suspect = board(world, "2026-11-22T12:10").targets[0]
    assert suspect.health.state == "suspect"
    assert suspect.health.reasons[0].startswith("snapshot 7 is held: 2 of 2 files vanished")
    assert suspect.health.reasons[1] == "no new file for 2d or more"
    assert suspect.last_poll is not None and suspect.last_poll.status == "suspect"
    assert suspect.files == 2  # the held listing is not applied
