"""The daily digest: one day of every target, written to the outbox once."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor.alerts import alert_t
from monitor.config import Settings, settings_from_dict
from monitor.digest import build_digest, digest_day, enqueue_digest
from monitor.store import Store
from tests.helpers import Clock, poll, put


def make_settings(tmp_path: Path, drop: Path, **notify: object) -> Settings:
    raw = {
        "timezone": "Europe/Paris",
        "notify": notify,
        "target": [
            {"name": "drop", "kind": "local", "path": str(drop), "settle": "0s"},
            {"name": "never-polled", "kind": "local", "path": str(tmp_path)},
        ],
    }
    return settings_from_dict(raw, path=tmp_path / "monitor.toml", environ={})


def test_digest_day_is_the_day_before_in_the_zone(tmp_path: Path, drop: Path) -> None:
    settings = make_settings(tmp_path, drop)
    # 23:30 UTC on the 23rd is already the 24th in Paris: the digest is the 23rd's.
    assert digest_day(settings, datetime(2026, 11, 23, 23, 30, tzinfo=UTC)) == date(2026, 11, 23)
    assert digest_day(settings, datetime(2026, 11, 23, 22, 30, tzinfo=UTC)) == date(2026, 11, 22)


def test_a_day_of_one_target(store: Store, tmp_path: Path, drop: Path) -> None:
    settings = make_settings(tmp_path, drop)
    target = settings.target("drop")
    clock = Clock(datetime(2026, 11, 19, 22, 0, tzinfo=UTC))  # 23:00 in Paris, the 19th
    put(drop, "old/a.txt", b"a")
    put(drop, "old/b.txt", b"b")
    poll(store, target, clock)  # the baseline, the day before
    clock.now = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    put(drop, "ep01/sc1/x.exr", b"x" * 100)
    put(drop, "ep01/sc1/y.exr", b"y" * 50)
    put(drop, "ep01/z.exr", b"z" * 10)
    (drop / "old/a.txt").unlink()
    poll(store, target, clock)
    poll(store, target, clock)  # settles the batch
    put(drop, "late.txt", b"l")
    clock.now = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)  # the 21st in Paris: not counted
    poll(store, target, clock)

    digest = build_digest(store, settings, date(2026, 11, 20))
    assert (digest["day"], digest["timezone"]) == ("2026-11-20", "Europe/Paris")
    assert digest["start"] == "2026-11-20T00:00:00+01:00"
    assert digest["empty"] is False
    day, unpolled = digest["targets"]
    # Files only: the two new folders are not counted.
    assert (day["added"], day["removed"], day["modified"], day["moved"]) == (
        3,
        1,
        0,
        0,
    )  # files only
    assert day["bytes_added"] == 160
    assert [
        (b["folder"], b["files"], b["bytes"], b["status"], b["review"]) for b in day["batches"]
    ] == [("ep01", 3, 160, "settled", "new")]
    assert day["busiest"] == [
        {"folder": "ep01/sc1", "files": 2, "bytes": 150},
        {"folder": "ep01", "files": 1, "bytes": 10},
    ]
    assert day["health"]["polls"] == 2 and day["health"]["complete"] == 2
    assert day["health"]["last_status"] == "complete"
    assert unpolled["target"] == "never-polled" and unpolled["health"]["polls"] == 0
    assert day["batches_total"] == 1


def test_a_failed_first_poll_is_not_a_boundary(store: Store, tmp_path: Path, drop: Path) -> None:
    settings = make_settings(tmp_path, drop)
    put(drop, "there.txt", b"x" * 100)
    clock = Clock(datetime(2026, 11, 19, 22, 0, tzinfo=UTC))
    hidden = drop.rename(tmp_path / "hidden")
    poll(store, settings.target("drop"), clock)  # failed: the folder is not there
    hidden.rename(drop)
    clock.now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    poll(store, settings.target("drop"), clock)  # the baseline, on the day
    put(drop, "new.txt", b"y" * 7)
    poll(store, settings.target("drop"), clock)
    (day, _) = build_digest(store, settings, date(2026, 11, 20))["targets"]
    assert (day["added"], day["bytes_added"]) == (1, 7)


def test_a_target_first_polled_that_day_starts_from_its_baseline(
    store: Store, tmp_path: Path, drop: Path
) -> None:
    settings = make_settings(tmp_path, drop)
    put(drop, "there-before.txt")
    clock = Clock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    poll(store, settings.target("drop"), clock)
    put(drop, "arrived.txt")
    poll(store, settings.target("drop"), clock)
    (day, _) = build_digest(store, settings, date(2026, 11, 20))["targets"]
    assert day["added"] == 1


def test_failed_polls_make_a_day_eventful(store: Store, tmp_path: Path, drop: Path) -> None:
    settings = make_settings(tmp_path, drop)
    clock = Clock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    poll(store, settings.target("drop"), clock)
    assert build_digest(store, settings, date(2026, 11, 20))["empty"] is True
    drop.rmdir()
    poll(store, settings.target("drop"), clock)
    digest = build_digest(store, settings, date(2026, 11, 20))
    assert digest["empty"] is False
    assert digest["targets"][0]["health"]["failed"] == 1
    assert digest["targets"][0]["health"]["last_status"] == "failed"


@pytest.mark.parametrize("empty", ["line", "skip"])
def test_enqueue_once_per_day_and_skip_empty_days(
    store: Store, tmp_path: Path, drop: Path, empty: str
) -> None:
    settings = make_settings(tmp_path, drop, digest_empty=empty)
    now = datetime(2026, 11, 21, 7, 0, tzinfo=UTC)
    first = enqueue_digest(store, settings, date(2026, 11, 20), now=now)
    again = enqueue_digest(store, settings, date(2026, 11, 20), now=now)
    with store.read() as conn:
        rows = conn.execute(select(alert_t)).all()
    if empty == "skip":
        assert first is None and again is None and rows == []
        return
    assert first is not None and again == first
    (row,) = rows
    assert (row.kind, row.key, row.target_id) == ("digest", "digest:2026-11-20", None)
    assert json.loads(row.payload)["empty"] is True
