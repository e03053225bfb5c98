"""Changes per day: every count equals what ``monitor diff --day`` reports for that day."""

from __future__ import annotations

from datetime import date

import pytest

from monitor.errors import UsageError
from monitor.store import queries as q
from monitor.views.daily import day_counts
from tests.views.conftest import PARIS, World, four_days


def test_each_day_counts_as_monitor_diff_day(world: World) -> None:
    four_days(world)
    with world.store.read() as conn:
        tid = q.target_id(conn, "drop")
        days = day_counts(conn, tid, date(2026, 11, 19), date(2026, 11, 25), PARIS)
    assert [d.day for d in days] == [date(2026, 11, d) for d in range(19, 26)]
    for counted in days:
        report = world.cli.json("diff", "drop", "--day", counted.day.isoformat())
        assert counted.model_dump(include=set(report["summary"])) == report["summary"]
        assert (counted.from_snapshot, counted.to_snapshot) == (
            report["from"]["snapshot"],
            report["to"]["snapshot"],
        )
    by_day = {d.day.day: d for d in days}
    # The baseline day: nothing before it, so everything seen that day was added.
    assert (by_day[20].added, by_day[20].files_added, by_day[20].bytes_added) == (9, 7, 172)
    assert (by_day[19].added, by_day[23].added, by_day[25].added) == (0, 0, 0)
    d21 = by_day[21]
    assert (d21.added, d21.removed, d21.modified, d21.moved) == (8, 1, 1, 1)
    assert (d21.files_added, d21.files_removed, d21.files_modified, d21.files_moved) == (5, 1, 1, 1)
    assert (d21.bytes_added, d21.bytes_removed, d21.bytes_modified) == (2014, 3, 4)
    # 00:30 in Paris on the 22nd is the 21st in UTC: it counts on the 22nd.
    assert (by_day[22].added, by_day[22].bytes_added) == (1, 6)
    assert (by_day[24].removed, by_day[24].files_removed, by_day[24].bytes_removed) == (1, 1, 10)


def test_a_target_never_polled_counts_zero_and_ranges_are_checked(world: World) -> None:
    with world.store.read() as conn:
        days = day_counts(conn, None, date(2026, 11, 1), date(2026, 11, 3), PARIS)
        assert [(d.added, d.from_snapshot) for d in days] == [(0, None)] * 3
        with pytest.raises(UsageError, match="ends"):
            day_counts(conn, None, date(2026, 11, 3), date(2026, 11, 1), PARIS)
        with pytest.raises(UsageError, match="400 days"):
            day_counts(conn, None, date(2025, 1, 1), date(2026, 11, 1), PARIS)
